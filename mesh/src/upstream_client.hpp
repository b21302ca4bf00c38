// One HTTP/1.1 exchange with an endpoint of a registered service, over TCP or TLS (a client
// certificate, the service's CA, its DNS name, IP address or SPIFFE ID checked), within one
// deadline, the answer read whole (retries and ejection need the status before anything reaches
// the caller). One connection per exchange. Private to the mesh module.
//
// Not thread safe: the io thread only.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "mesh/service_spec.hpp"

namespace boost::asio::ssl {
class context;
}

namespace fnd::mesh::internal {

using FieldList = std::vector<std::pair<std::string, std::string>>;

struct UpstreamRequest {
  std::string_view method;
  std::string target;  // base path + what the caller asked for: "/base/v1/users/3?x=1"
  FieldList headers;   // end-to-end fields; Host and Content-Length are set here
  std::string_view body;
};

struct UpstreamResponse {
  unsigned status = 0;
  std::string reason;
  FieldList headers;  // end-to-end fields as the service sent them (framing and hop-by-hop ones dropped)
  std::string body;
};

enum class UpstreamFailure {
  connect,   // no connection (refused, unreachable, name not resolved, TLS refused): nothing was sent
  timeout,   // the deadline passed after the request may have gone out
  protocol,  // a broken answer
};

struct UpstreamError {
  UpstreamFailure kind = UpstreamFailure::connect;
  std::string message;
};

// What a TLS connection presents and checks.
struct UpstreamTls {
  std::shared_ptr<boost::asio::ssl::context> context;  // client certificate and trust anchors loaded
  std::string verify_name;                             // DNS name or IP the certificate must name (when no SPIFFE ID)
  std::string spiffe_id;                               // the URI SAN the certificate must carry; empty: not checked
};

using UpstreamResult = std::variant<UpstreamResponse, UpstreamError>;

// `tls` is required for an https URL and ignored for http. The whole exchange ends at `deadline`.
boost::asio::awaitable<UpstreamResult> exchange(boost::asio::any_io_executor executor, const ServiceUrl& url,
                                                const UpstreamRequest& request, const UpstreamTls* tls,
                                                std::chrono::steady_clock::time_point deadline, uint64_t body_limit);

// A client TLS context trusting `ca_pem` (empty: the system's trust store) and presenting
// `certificate_pem` + `private_key_pem` (empty: no client certificate). Errors: 500
// identity_unavailable when OpenSSL refuses the material.
Result<std::shared_ptr<boost::asio::ssl::context>> make_client_tls(std::string_view ca_pem,
                                                                   std::string_view certificate_pem,
                                                                   std::string_view private_key_pem);

}  // namespace fnd::mesh::internal
