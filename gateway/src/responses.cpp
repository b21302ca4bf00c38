#include "gateway/responses.hpp"

#include <boost/asio.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include "client_stream.hpp"
#include "core/json.hpp"

namespace fnd::gateway {

namespace asio = boost::asio;
namespace http = boost::beast::http;

namespace {

asio::awaitable<bool> write_body(ClientStream& client, unsigned status, std::string body,
                                 std::string_view content_type, unsigned version, bool keep_alive, bool fnd_error,
                                 int retry_after_seconds = 0, const HeaderFields* headers = nullptr) {
  http::response<http::string_body> res(static_cast<http::status>(status), version);
  res.set(http::field::server, "fnd");
  if (retry_after_seconds > 0) res.set(http::field::retry_after, std::to_string(retry_after_seconds));
  res.set(http::field::content_type, content_type);
  if (fnd_error) res.set("X-Fnd-Error", "1");
  if (headers) {
    for (const auto& [name, value] : *headers) res.set(name, value);
  }
  res.body() = std::move(body);
  res.keep_alive(keep_alive);
  res.prepare_payload();
  client.expires_after(std::chrono::seconds(30));
  auto [ec, n] = co_await http::async_write(client, res, asio::as_tuple(asio::use_awaitable));
  client.expires_never();
  co_return !ec && keep_alive;
}

}  // namespace

asio::awaitable<bool> write_error(ClientStream& client, const Error& error, unsigned version, bool keep_alive) {
  co_return co_await write_body(client, static_cast<unsigned>(error.http_status), error_body(error) + "\n",
                                "application/json", version, keep_alive, true, error.retry_after_seconds);
}

asio::awaitable<bool> write_json(ClientStream& client, unsigned status, const boost::json::value& body,
                                 unsigned version, bool keep_alive, const HeaderFields& headers) {
  co_return co_await write_body(client, status, boost::json::serialize(body) + "\n", "application/json", version, keep_alive,
                                false, 0, &headers);
}

asio::awaitable<bool> write_bytes(ClientStream& client, unsigned status, std::string body,
                                  std::string_view content_type, unsigned version, bool keep_alive,
                                  const HeaderFields& headers) {
  co_return co_await write_body(client, status, std::move(body), content_type, version, keep_alive, false, 0, &headers);
}

asio::awaitable<bool> write_text(ClientStream& client, unsigned status, std::string body, unsigned version,
                                 bool keep_alive) {
  co_return co_await write_body(client, status, std::move(body), "text/plain; charset=utf-8", version, keep_alive, false);
}

}  // namespace fnd::gateway
