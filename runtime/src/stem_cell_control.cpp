#include "stem_cell_control.hpp"

#include <fcntl.h>
#include <sys/socket.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <cstring>
#include <fmt/format.h>
#include <memory>

namespace fnd::runtime::internal {

namespace asio = boost::asio;
namespace json = boost::json;

Result<ControlChannel> make_control_channel() {
  int ends[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ends) != 0) {
    return make_errno_error("socketpair_failed", "socketpair for a stem cell's control channel", errno);
  }
  // The assignment carries the function's env: let one message be as large as a spec allows.
  int buffer = 1 << 20;
  ::setsockopt(ends[0], SOL_SOCKET, SO_SNDBUFFORCE, &buffer, sizeof buffer);
  return ControlChannel{UniqueFd(ends[0]), UniqueFd(ends[1])};
}

Status send_assignment(int fnd_end, const std::string& handler, const std::map<std::string, std::string>& env) {
  json::object env_json;
  for (const auto& [name, value] : env) env_json[name] = value;
  std::string message = json::serialize(json::object{{"handler", handler}, {"env", std::move(env_json)}});
  if (::send(fnd_end, message.data(), message.size(), MSG_NOSIGNAL | MSG_DONTWAIT) != static_cast<ssize_t>(message.size())) {
    return make_errno_error("stem_cell_unusable", "sending the stem cell its function", errno);
  }
  return {};
}

asio::awaitable<Result<std::string>> read_control_message(asio::any_io_executor executor, int fnd_end,
                                                          std::chrono::steady_clock::time_point deadline) {
  // Shared with the timer's handler: when the read and the deadline finish together, the handler
  // may run after this coroutine has returned.
  struct Watch {
    asio::posix::stream_descriptor control;
    bool timed_out = false;
  };
  auto watch = std::make_shared<Watch>(Watch{asio::posix::stream_descriptor(executor, ::fcntl(fnd_end, F_DUPFD_CLOEXEC, 0))});
  asio::steady_timer timer(executor, deadline);
  timer.async_wait([watch](const boost::system::error_code& ec) {
    if (ec) return;  // cancelled: the read finished first
    watch->timed_out = true;
    watch->control.cancel();
  });
  std::array<char, 256> message;
  auto [ec, n] = co_await watch->control.async_read_some(asio::buffer(message), asio::as_tuple(asio::use_awaitable));
  timer.cancel();
  if (watch->timed_out) co_return make_error(std::string(kControlTimeout), "no answer on the control socket", 504);
  if (ec) co_return std::string();
  co_return std::string(message.data(), n);
}

}  // namespace fnd::runtime::internal
