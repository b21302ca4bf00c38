// The management API of the mesh: registered services (/api/v1/services), call policies per
// function or service (/api/v1/policies), authorization rules (/api/v1/authz/rules) and the node
// CA's certificate (/api/v1/mesh/ca). The work is the mesh's ServiceRegistry; this class reads
// and writes HTTP. Reading needs mesh.read (reader, deployer, admin), changing needs mesh.manage
// (admin): a rule or a service decides who reaches what. See docs/api.md.
//
// Not thread safe: the io thread only.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <string_view>

#include "gateway/access_control.hpp"
#include "gateway/audit_trail.hpp"
#include "gateway/http_server.hpp"

namespace fnd::mesh {
class ServiceRegistry;
}

namespace fnd::gateway {

class ClientStream;

class MeshApi {
 public:
  explicit MeshApi(mesh::ServiceRegistry& registry, AuditTrail& audit) : registry_(registry), audit_(audit) {}

  static bool serves(std::string_view path);
  // `path` is the request target (query included).
  boost::asio::awaitable<bool> handle(Request& request, std::string_view path, ClientStream& client,
                                      const Caller& caller);

 private:
  boost::asio::awaitable<bool> services(Request& request, std::string_view rest, ClientStream& client,
                                        const Caller& caller);
  boost::asio::awaitable<bool> policies(Request& request, std::string_view rest, ClientStream& client,
                                        const Caller& caller);
  boost::asio::awaitable<bool> rules(Request& request, std::string_view rest, ClientStream& client,
                                     const Caller& caller);

  mesh::ServiceRegistry& registry_;
  AuditTrail& audit_;
};

}  // namespace fnd::gateway
