// Watching a running instance: its stdout and stderr pumped into the log store line by line, and
// its process's end (exit status, OOM kill) recorded on the Instance. Private to the runtime
// module.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <memory>
#include <string>

#include "process.hpp"
#include "runtime/instance.hpp"
#include "store/log_store.hpp"

namespace fnd::runtime::internal {

// Reads `fd` (owned from now on) until it closes, one log line per output line (overlong lines
// are cut at 16 KiB). Lines of a stem cell no function took go to fnd's own log.
boost::asio::awaitable<void> pump_output(std::shared_ptr<Instance> instance, int fd, store::LogStream stream, store::LogStore& logs);

// Waits for the instance's process to end, then records how (reading the OOM killer's verdict
// from `cgroup_name` before anyone deletes the cgroup) with Instance::exited and logs it.
boost::asio::awaitable<void> watch_exit(std::shared_ptr<Instance> instance, const std::string& cgroup_name,
                                        ChildTracker& children, store::LogStore& logs);

}  // namespace fnd::runtime::internal
