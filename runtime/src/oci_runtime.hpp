// The OCI runtime's command line (crun or runc: the same CLI), with a state root of fnd's own.
// Every call fnd makes to it lives here. Private to the runtime module.
//
// Not thread safe: use from the io_context's thread only.
#pragma once

#include <sys/types.h>

#include <boost/asio/awaitable.hpp>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "process.hpp"

namespace fnd::runtime::internal {

struct LaunchRequest {
  std::string id;
  std::string bundle;
  bool create_only = false;  // OCI create (the process waits to be started) instead of run --detach
  int stdout_fd = -1;        // become the container's stdout / stderr
  int stderr_fd = -1;
  int fd3 = -1;              // preserved as the container's fd 3 when >= 0
};

// Error codes.
inline constexpr std::string_view kOciFailed = "oci_failed";  // the OCI runtime refused; the message has its log

class OciRuntime {
 public:
  OciRuntime(std::string root, ChildTracker& children) : root_(std::move(root)), children_(children) {}

  // Finds `name` ("crun", "runc" or a path) and tells crun from runc. Error: 500
  // runtime_unavailable saying how to install one.
  boost::asio::awaitable<Status> locate(const std::string& name);
  const std::string& path() const { return path_; }
  bool is_crun() const { return crun_; }

  // Runs the bundle's process to completion (the start-up check of the host).
  boost::asio::awaitable<Result<Completed>> run(const std::string& bundle, const std::string& id);
  // Starts (or creates) the container and returns its process's pid once the OCI runtime has
  // handed it over. Errors: oci_failed with the tail of the runtime's log.
  boost::asio::awaitable<Result<pid_t>> launch(const LaunchRequest& request);
  // Lets a created container exec its process. Error: oci_failed (it cannot be started).
  boost::asio::awaitable<Status> start(const std::string& id);
  // Deletes the container, killing what is left of it; quiet when it is gone already.
  boost::asio::awaitable<void> remove(const std::string& id);
  // Ids of every container under fnd's root.
  boost::asio::awaitable<std::vector<std::string>> list();

 private:
  std::vector<std::string> command(std::initializer_list<std::string> args) const;

  std::string root_;
  ChildTracker& children_;
  std::string path_;
  bool crun_ = false;
};

}  // namespace fnd::runtime::internal
