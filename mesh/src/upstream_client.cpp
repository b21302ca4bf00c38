#include "upstream_client.hpp"

#include <fmt/format.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <cassert>
#include <cctype>

#include "certificates.hpp"
#include "core/timed_socket.hpp"
#include "mesh/workload_identity.hpp"
#include "openssl_handles.hpp"

namespace fnd::mesh::internal {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using asio::ip::tcp;

namespace {

bool hop_by_hop(std::string_view name) {
  static constexpr std::array<std::string_view, 9> kFields = {
      "connection", "keep-alive", "proxy-connection", "transfer-encoding", "te",
      "trailer",    "upgrade",    "content-length",   "proxy-authenticate"};
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); });
  return std::find(kFields.begin(), kFields.end(), lower) != kFields.end();
}

UpstreamError failure(UpstreamFailure kind, std::string message) { return UpstreamError{kind, std::move(message)}; }

std::string host_field(const ServiceUrl& url) {
  const bool ipv6 = url.host.find(':') != std::string::npos;
  const bool default_port = url.port == (url.tls ? 443 : 80);
  std::string host = ipv6 ? "[" + url.host + "]" : url.host;
  return default_port ? host : fmt::format("{}:{}", host, url.port);
}

// Sends the request and reads the answer over `stream` (TCP or TLS over `socket`).
template <typename Stream>
asio::awaitable<UpstreamResult> talk(Stream& stream, TimedSocket& socket, const ServiceUrl& url,
                                     const UpstreamRequest& request, uint64_t body_limit) {
  http::request<http::string_body> out;
  out.version(11);
  out.method_string(request.method);
  out.target(request.target);
  for (const auto& [name, value] : request.headers) {
    if (!hop_by_hop(name)) out.insert(name, value);
  }
  out.set(http::field::host, host_field(url));
  out.body() = std::string(request.body);
  out.keep_alive(false);
  if (!request.body.empty() || request.method == "POST" || request.method == "PUT" || request.method == "PATCH")
    out.prepare_payload();
  auto [wec, wn] = co_await http::async_write(stream, out, asio::as_tuple(asio::use_awaitable));
  if (wec) {
    if (socket.expired()) co_return failure(UpstreamFailure::timeout, "no answer in time (timed out sending)");
    co_return failure(UpstreamFailure::protocol, fmt::format("sending the request failed: {}", wec.message()));
  }
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(body_limit);
  if (request.method == "HEAD") parser.skip(true);
  auto [rec, rn] = co_await http::async_read(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
  if (rec) {
    if (socket.expired()) co_return failure(UpstreamFailure::timeout, "no answer in time");
    co_return failure(UpstreamFailure::protocol, fmt::format("reading the answer failed: {}", rec.message()));
  }
  auto message = parser.release();
  UpstreamResponse response;
  response.status = message.result_int();
  response.reason = std::string(message.reason());
  for (const auto& field : message) {
    if (!hop_by_hop(field.name_string())) response.headers.emplace_back(field.name_string(), field.value());
  }
  response.body = std::move(message.body());
  co_return response;
}

// The peer certificate's URI SANs hold `spiffe_id`.
bool presents_spiffe_id(SSL* ssl, std::string_view spiffe_id) {
  X509Ptr peer(SSL_get1_peer_certificate(ssl));
  if (!peer) return false;
  auto uris = uri_sans(peer.get());
  return std::find(uris.begin(), uris.end(), spiffe_id) != uris.end();
}

}  // namespace

Result<std::shared_ptr<ssl::context>> make_client_tls(std::string_view ca_pem, std::string_view certificate_pem,
                                                      std::string_view private_key_pem) {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
  boost::system::error_code ec;
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                           ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1,
                       ec);
  context->set_verify_mode(ssl::verify_peer, ec);
  auto unavailable = [](std::string_view what, const boost::system::error_code& error) {
    return make_error(std::string(kIdentityUnavailable), fmt::format("{}: {}", what, error.message()), 500);
  };
  if (ca_pem.empty()) {
    context->set_default_verify_paths(ec);
    if (ec) return unavailable("cannot load the system's trust store", ec);
  } else {
    context->add_certificate_authority(asio::buffer(ca_pem.data(), ca_pem.size()), ec);
    if (ec) return unavailable("the service's CA certificate cannot be used", ec);
  }
  if (!certificate_pem.empty()) {
    context->use_certificate_chain(asio::buffer(certificate_pem.data(), certificate_pem.size()), ec);
    if (ec) return unavailable("the workload certificate cannot be used", ec);
    context->use_private_key(asio::buffer(private_key_pem.data(), private_key_pem.size()), ssl::context::pem, ec);
    if (ec) return unavailable("the workload key cannot be used", ec);
  }
  return context;
}

asio::awaitable<UpstreamResult> exchange(asio::any_io_executor executor, const ServiceUrl& url,
                                         const UpstreamRequest& request, const UpstreamTls* tls,
                                         std::chrono::steady_clock::time_point deadline, uint64_t body_limit) {
  TimedSocket socket(executor);
  socket.expires_at(deadline);
  std::vector<tcp::endpoint> endpoints;
  boost::system::error_code ec;
  auto address = asio::ip::make_address(url.host, ec);
  if (!ec) {
    endpoints.emplace_back(address, url.port);
  } else {
    tcp::resolver resolver(executor);
    auto [rec, results] =
        co_await resolver.async_resolve(url.host, std::to_string(url.port), asio::as_tuple(asio::use_awaitable));
    if (rec) co_return failure(UpstreamFailure::connect, fmt::format("cannot resolve {}: {}", url.host, rec.message()));
    for (const auto& entry : results) endpoints.push_back(entry.endpoint());
  }
  boost::system::error_code connect_error = asio::error::host_not_found;
  for (const auto& endpoint : endpoints) {
    socket.socket().close(ec);
    auto [cec] = co_await socket.socket().async_connect(endpoint, asio::as_tuple(asio::use_awaitable));
    connect_error = cec;
    if (!cec) break;
    if (socket.expired()) break;
  }
  if (connect_error) {
    co_return failure(UpstreamFailure::connect,
                      fmt::format("cannot connect to {}: {}", url.text,
                                  socket.expired() ? std::string("timed out") : connect_error.message()));
  }
  socket.socket().set_option(tcp::no_delay(true), ec);
  if (!url.tls) co_return co_await talk(socket, socket, url, request, body_limit);

  assert(tls != nullptr && tls->context && "an https endpoint needs its TLS settings");
  ssl::stream<TimedSocket&> stream(socket, *tls->context);
  SSL* handle = stream.native_handle();
  const std::string& name = tls->verify_name;
  auto ip = asio::ip::make_address(name, ec);
  if (ec && !name.empty()) SSL_set_tlsext_host_name(handle, name.c_str());
  if (tls->spiffe_id.empty() && !name.empty()) {
    X509_VERIFY_PARAM* param = SSL_get0_param(handle);
    if (!ec) {
      X509_VERIFY_PARAM_set1_ip_asc(param, ip.to_string().c_str());
    } else {
      X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size());
    }
  }
  auto [hec] = co_await stream.async_handshake(ssl::stream_base::client, asio::as_tuple(asio::use_awaitable));
  if (hec) {
    const long verify = SSL_get_verify_result(handle);
    std::string why = verify != X509_V_OK ? X509_verify_cert_error_string(verify) : hec.message();
    co_return failure(UpstreamFailure::connect, fmt::format("TLS with {} failed: {}", url.text,
                                                            socket.expired() ? std::string("timed out") : why));
  }
  if (!tls->spiffe_id.empty() && !presents_spiffe_id(handle, tls->spiffe_id)) {
    co_return failure(
        UpstreamFailure::connect,
        fmt::format("{} did not present the SPIFFE ID {} the service was registered with", url.text, tls->spiffe_id));
  }
  auto result = co_await talk(stream, socket, url, request, body_limit);
  // A close_notify is a courtesy here: the answer is complete, so the connection just goes.
  co_return result;
}

}  // namespace fnd::mesh::internal
