#include "mesh_http.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <string>
#include <utility>

#include "core/json.hpp"

namespace fnd::mesh::internal {

namespace asio = boost::asio;
namespace http = boost::beast::http;

Answer error_answer(const Error& error) {
  Answer answer;
  answer.status = static_cast<unsigned>(error.http_status);
  answer.body = error_body(error) + "\n";
  answer.fnd_error = true;
  answer.retry_after_seconds = error.retry_after_seconds;
  return answer;
}

Answer json_answer(unsigned status, const boost::json::value& body) {
  Answer answer;
  answer.status = status;
  answer.body = boost::json::serialize(body) + "\n";
  return answer;
}

Answer empty_answer(unsigned status) {
  Answer answer;
  answer.status = status;
  answer.content_type.clear();
  return answer;
}

asio::awaitable<bool> write_answer(TimedSocket& stream, Answer answer, unsigned version, bool keep_alive) {
  http::response<http::string_body> response(static_cast<http::status>(answer.status), version);
  response.set(http::field::server, "fnd");
  if (!answer.content_type.empty()) response.set(http::field::content_type, answer.content_type);
  if (answer.fnd_error) response.set("X-Fnd-Error", "1");
  if (answer.retry_after_seconds > 0)
    response.set(http::field::retry_after, std::to_string(answer.retry_after_seconds));
  for (const auto& [name, value] : answer.headers) response.set(name, value);
  response.body() = std::move(answer.body);
  response.keep_alive(keep_alive);
  response.prepare_payload();
  stream.expires_after(std::chrono::seconds(30));
  auto [ec, n] = co_await http::async_write(stream, response, asio::as_tuple(asio::use_awaitable));
  stream.expires_never();
  co_return !ec && keep_alive;
}

}  // namespace fnd::mesh::internal
