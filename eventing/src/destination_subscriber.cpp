#include "eventing/destination_subscriber.hpp"

#include <fmt/format.h>
#include <openssl/ssl.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <optional>
#include <string>
#include <vector>

#include "answer_sink.hpp"
#include "eventing/delivery.hpp"
#include "eventing/http_binding.hpp"
#include "eventing/trigger.hpp"

namespace fnd::eventing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

struct DestinationSubscriber::Tls {
  asio::ssl::context context{asio::ssl::context::tls_client};
  Tls() {
    context.set_default_verify_paths();
    context.set_verify_mode(asio::ssl::verify_peer);
    SSL_CTX_set_min_proto_version(context.native_handle(), TLS1_2_VERSION);
  }
};

namespace {

using internal::failed;

struct ParsedUrl {
  bool https = false;
  std::string host;
  std::string port;
  std::string target;
};

std::optional<ParsedUrl> parse_url(std::string_view url) {
  ParsedUrl out;
  if (url.starts_with("http://")) {
    url.remove_prefix(7);
    out.port = "80";
  } else if (url.starts_with("https://")) {
    url.remove_prefix(8);
    out.https = true;
    out.port = "443";
  } else {
    return std::nullopt;
  }
  const size_t slash = url.find_first_of("/?");
  std::string_view authority = url.substr(0, slash);
  out.target = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
  if (!out.target.starts_with('/')) out.target.insert(0, "/");
  if (authority.starts_with('[')) {  // [::1]:8080
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    out.host = std::string(authority.substr(1, close - 1));
    if (close + 1 < authority.size() && authority[close + 1] == ':')
      out.port = std::string(authority.substr(close + 2));
  } else if (const size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    out.host = std::string(authority.substr(0, colon));
    out.port = std::string(authority.substr(colon + 1));
  } else {
    out.host = std::string(authority);
  }
  if (out.host.empty() || out.port.empty()) return std::nullopt;
  return out;
}

http::request<http::string_body> make_request(const ParsedUrl& url, const CloudEvent& event) {
  HttpEventMessage message = to_http_binary(event);
  http::request<http::string_body> request{http::verb::post, url.target, 11};
  request.set(http::field::host, url.host);
  request.set(http::field::user_agent, "fnd-eventing");
  for (const auto& [name, value] : message.headers) request.set(name, value);
  request.body() = std::move(message.body);
  request.prepare_payload();
  return request;
}

template <typename Stream>
asio::awaitable<AttemptResult> exchange(Stream& stream, http::request<http::string_body>& request) {
  auto [write_ec, written] = co_await http::async_write(stream, request, asio::as_tuple(asio::use_awaitable));
  if (write_ec) co_return failed(write_ec == beast::error::timeout ? kAttemptTimeout : kConnectionFailed);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(internal::kMaxAnswerBody);
  auto [read_ec, read] = co_await http::async_read(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
  if (read_ec && !(read_ec == http::error::body_limit && parser.is_header_done())) {
    co_return failed(read_ec == beast::error::timeout ? kAttemptTimeout : kConnectionFailed);
  }
  HttpHeaderFields headers;
  for (const auto& field : parser.get())
    headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  co_return internal::read_answer(parser.get().result_int(), headers, parser.get().body());
}

}  // namespace

DestinationSubscriber::DestinationSubscriber(scheduler::Invoker& invoker, asio::any_io_executor executor,
                                             KafkaSink* kafka)
    : invoker_(invoker), executor_(std::move(executor)), tls_(std::make_unique<Tls>()), kafka_(kafka) {}

Status DestinationSubscriber::can_deliver_to(const Destination& destination) const {
  if (destination.kind != DestinationKind::kafka || kafka_ != nullptr) return {};
  return make_error(std::string(kNoKafkaSink),
                    fmt::format("kafka:{} needs a Kafka cluster: set eventing.kafka.bootstrap_servers in fnd's "
                                "config (or FND_KAFKA_BOOTSTRAP_SERVERS) and restart fnd",
                                destination.target),
                    422);
}

DestinationSubscriber::~DestinationSubscriber() = default;

asio::awaitable<AttemptResult> DestinationSubscriber::deliver(const Destination& destination, const CloudEvent& event,
                                                              std::chrono::milliseconds timeout) {
  switch (destination.kind) {
    case DestinationKind::function:
      return to_function(destination.target, event, timeout);
    case DestinationKind::url:
      return to_url(destination.target, event, timeout);
    case DestinationKind::kafka:
      if (kafka_ != nullptr) return kafka_->deliver(destination.target, event, timeout);
      break;
  }
  return [](std::string topic) -> asio::awaitable<AttemptResult> {
    AttemptResult result = failed(kNoKafkaSink);
    result.body = fmt::format("no Kafka sink is configured for topic {}", topic);
    co_return result;
  }(destination.target);
}

asio::awaitable<AttemptResult> DestinationSubscriber::to_function(const std::string& name, const CloudEvent& event,
                                                                  std::chrono::milliseconds timeout) {
  (void)timeout;  // the Invoker bounds the call with the function's own timeout
  HttpEventMessage message = to_http_binary(event);
  std::vector<scheduler::HeaderField> headers;
  headers.reserve(message.headers.size());
  for (const auto& [field, value] : message.headers) headers.push_back({field, value});
  scheduler::InvocationRequest request;
  request.method = "POST";
  request.target = "/";
  request.headers = headers;
  request.body = message.body;
  internal::AnswerSink sink;
  scheduler::InvocationOutcome outcome = co_await invoker_.invoke(name, request, sink);
  if (outcome.error) {
    AttemptResult result;
    // fnd's own answer for a function that gave none (404 no such function, 502 crashed, 503 at
    // capacity, 504 timeout): the same statuses a caller over HTTP would see.
    result.status = outcome.error->http_status;
    result.body = outcome.error->message.substr(0, kMaxResponseBodyKept);
    if (outcome.error->retry_after_seconds > 0)
      result.retry_after = std::chrono::seconds(outcome.error->retry_after_seconds);
    co_return result;
  }
  if (!outcome.complete) co_return failed(kConnectionFailed);
  co_return sink.result();
}

asio::awaitable<AttemptResult> DestinationSubscriber::to_url(const std::string& url, const CloudEvent& event,
                                                             std::chrono::milliseconds timeout) {
  auto parsed = parse_url(url);
  if (!parsed) co_return failed(kConnectionFailed);
  auto request = make_request(*parsed, event);
  asio::ip::tcp::resolver resolver(executor_);
  auto [resolve_ec, endpoints] =
      co_await resolver.async_resolve(parsed->host, parsed->port, asio::as_tuple(asio::use_awaitable));
  if (resolve_ec) co_return failed(kConnectionFailed);
  beast::tcp_stream tcp(executor_);
  tcp.expires_after(timeout);  // one deadline for the whole attempt
  auto [connect_ec, endpoint] = co_await tcp.async_connect(endpoints, asio::as_tuple(asio::use_awaitable));
  if (connect_ec) co_return failed(connect_ec == beast::error::timeout ? kAttemptTimeout : kConnectionFailed);
  if (!parsed->https) {
    AttemptResult plain = co_await exchange(tcp, request);
    beast::error_code ignored;
    tcp.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    co_return plain;
  }
  beast::ssl_stream<beast::tcp_stream> tls(std::move(tcp), tls_->context);
  SSL_set_tlsext_host_name(tls.native_handle(), parsed->host.c_str());
  tls.set_verify_callback(asio::ssl::host_name_verification(parsed->host));
  auto [handshake_ec] =
      co_await tls.async_handshake(asio::ssl::stream_base::client, asio::as_tuple(asio::use_awaitable));
  if (handshake_ec) co_return failed(handshake_ec == beast::error::timeout ? kAttemptTimeout : kConnectionFailed);
  co_return co_await exchange(tls, request);
}

}  // namespace fnd::eventing
