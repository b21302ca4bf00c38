// The control channel between fnd and a stem cell's bootstrap: a SOCK_SEQPACKET socket pair whose
// cell end is the container's fd 3. The protocol is written down in docs/stem-cell-protocol.md:
// the cell says "ready" once its bootstrap is up; fnd sends one assignment (the handler and the
// env, JSON); the cell answers "ok" once the handler is loaded, or closes the socket and exits.
// Private to the runtime module.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <map>
#include <string>

#include "core/error.hpp"
#include "process.hpp"

namespace fnd::runtime::internal {

// Error codes.
inline constexpr std::string_view kControlTimeout = "stem_cell_timeout";  // no message before the deadline

struct ControlChannel {
  UniqueFd fnd_end;
  UniqueFd cell_end;  // given to the container as fd 3, then closed by fnd
};

// A socket pair whose fnd end can carry an assignment as large as a spec's env allows.
Result<ControlChannel> make_control_channel();

// Sends the cell its function: {"handler": ..., "env": {...}}. Never blocks.
Status send_assignment(int fnd_end, const std::string& handler, const std::map<std::string, std::string>& env);

// The next message from the cell; "" when it closed its end (its bootstrap is exiting). Error
// stem_cell_timeout when nothing came before `deadline`.
boost::asio::awaitable<Result<std::string>> read_control_message(boost::asio::any_io_executor executor, int fnd_end,
                                                                 std::chrono::steady_clock::time_point deadline);

}  // namespace fnd::runtime::internal
