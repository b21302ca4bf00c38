// The node-level mesh endpoint: fnd listens inside every instance's network namespace on
// 127.0.0.1:15001 (FN_MESH_URL), and serves there, as the function of that instance:
//   /fn/NAME/...         a call to function NAME through the Invoker (a cold target starts); the
//                        answer (status, headers, body) is relayed as it comes
//   /v1/state/KEY        GET, PUT, DELETE on the caller's own key/value store (ETag, If-Match,
//                        If-None-Match: *, ?ttl=); GET /v1/state?prefix= lists keys
//   /v1/events/BROKER    POST a CloudEvent (binary or structured, as POST /events/BROKER)
//   /svc/NAME/...        a call to registered service NAME (ServiceRegistry::call_service: a
//                        healthy endpoint by least request, the call policy, mTLS for https)
//   http://NAME/...      plain HTTP proxy mode (HTTP_PROXY): the absolute URL, or Host: NAME; a
//                        function of that name, else a registered service of that name
// Calls to functions follow their call policy too: retries on 502/503/504 and on a crashed
// instance (idempotent methods, unless the policy allows others) within the retry budget. With
// mesh.authorization on, /fn and /svc calls are checked against the rules first (403 call_denied).
// Anything else is 404 with a JSON error. See docs/api.md, "The mesh endpoint inside functions".
//
// Identity: the caller is the function of the instance whose namespace the connection arrived
// in, never what the request says. Identity fields a function sends (X-Fnd-*, Fn-Caller*,
// X-Forwarded-Client-Cert) are dropped; the callee sees X-Fnd-Caller: CALLER (set by the
// Invoker from InvocationRequest::caller). A stem cell's listener exists from the cell's
// creation but answers 503 instance_not_assigned until a function takes the cell.
//
// Cost: no thread or process per instance. Every listener and connection runs on the io thread
// given in Services; the runtime hands over listening sockets it made in each namespace (see
// runtime::MeshAttachment). Limits: header size and timeout, body size (413 over), idle and
// read timeouts, and a cap on connections per instance (503 over it).
//
// Metrics: fnd_mesh_requests_total{caller,target,code}, where target is the function called,
// "svc:NAME" for a service, "state", "events:BROKER", or "-" (a function that does not exist, a bad route, a
// cell with no function).
//
// Not thread safe: use from the io_context's thread only (Services::executor).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/access_log.hpp"
#include "core/metrics.hpp"
#include "runtime/mesh_attachment.hpp"

namespace fnd::scheduler {
class Invoker;
}
namespace fnd::store {
class StateStore;
}
namespace fnd::eventing {
class EventRouter;
}

namespace fnd::mesh {

class ServiceRegistry;

namespace internal {
class EndpointCore;
}

// Error codes the endpoint makes itself (the Invoker's, the state store's and eventing's come
// through as they are).
inline constexpr std::string_view kNoServiceRegistry = "no_service_registry";      // 404: no registry given
inline constexpr std::string_view kInstanceNotAssigned = "instance_not_assigned";  // 503: a stem cell with no function
inline constexpr std::string_view kMeshRouteNotFound = "not_found";                // 404

struct NodeEndpointOptions {
  uint16_t port = 15001;                                                // inside every instance, on 127.0.0.1
  uint64_t max_body_bytes = 16ULL << 20;                                // a request body above it: 413
  uint32_t header_limit = 64 * 1024;                                    // request line and fields: 431 above
  std::chrono::milliseconds header_timeout = std::chrono::seconds(10);  // a new connection's first request head
  std::chrono::milliseconds idle_timeout = std::chrono::seconds(60);    // between requests on a connection
  std::chrono::milliseconds read_timeout = std::chrono::seconds(60);    // a request body
  std::chrono::milliseconds write_timeout =
      std::chrono::seconds(90);                 // a caller that reads nothing for this long is gone
  uint32_t max_connections_per_instance = 256;  // more at once: 503
};

class NodeEndpoint final : public runtime::MeshAttachment {
 public:
  // Collaborators, owned by the composition root; they must outlive the endpoint.
  struct Services {
    boost::asio::any_io_executor executor;  // the io thread's
    scheduler::Invoker& invoker;
    store::StateStore& state;
    eventing::EventRouter& events;
    MetricsRegistry& metrics;  // the endpoint registers its series here
    AccessLog* access_log = nullptr;  // a line per function call (with its trace); null: none
    // Services, call policies and authorization; null: /svc answers 404 no_service_registry and
    // calls to functions are neither retried nor checked.
    ServiceRegistry* registry = nullptr;
  };

  NodeEndpoint(Services services, NodeEndpointOptions options = {});
  ~NodeEndpoint() override;
  NodeEndpoint(const NodeEndpoint&) = delete;
  NodeEndpoint& operator=(const NodeEndpoint&) = delete;

  // --- runtime::MeshAttachment (the runtime calls these) -----------------------------------
  uint16_t port() const override { return options_.port; }
  // Starts accepting on `listener` at once (connections of a stem cell get 503 until assign()).
  // After drain() the listener is closed instead.
  void attach(const std::string& instance_id, const std::string& function, int listener) override;
  void assign(const std::string& instance_id, const std::string& function) override;
  // Closes the instance's listener and its connections (a request under way loses its caller).
  void detach(const std::string& instance_id) override;

  // Stops accepting everywhere, lets requests under way finish until `deadline`, then closes every
  // connection. Call once, at shutdown, after the gateway has drained (its requests may be
  // waiting for calls through here).
  boost::asio::awaitable<void> drain(std::chrono::steady_clock::time_point deadline);

  size_t listeners() const;
  size_t open_connections() const;

 private:
  NodeEndpointOptions options_;
  std::unique_ptr<internal::EndpointCore> core_;
};

}  // namespace fnd::mesh
