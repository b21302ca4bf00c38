#include "client_stream.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace fnd::gateway {

namespace asio = boost::asio;

asio::awaitable<boost::system::error_code> ClientStream::handshake() {
  if (!tls_) co_return boost::system::error_code{};
  auto [ec] = co_await tls_->async_handshake(asio::ssl::stream_base::server, asio::as_tuple(asio::use_awaitable));
  co_return ec;
}

}  // namespace fnd::gateway
