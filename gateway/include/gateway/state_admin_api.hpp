// The operators' side of the state API (docs/api.md, "State"): the keys of any function's store
// and of the shared stores, and the shared stores themselves with the functions they grant.
//   GET    /api/v1/state/stores                        every store, its usage and grants
//   GET|PUT|DELETE /api/v1/state/stores/{store}        one shared store; PUT {"grants": [...]}
//                                                      creates it and sets exactly those grants
//   GET    /api/v1/state/{functions|stores}/{name}/keys?prefix=&after=&limit=
//   GET|PUT|DELETE /api/v1/state/{functions|stores}/{name}/keys/{key}   (PUT: ?ttl=, If-Match,
//                                                      If-None-Match: *)
// Permissions: reading needs functions.read, writing functions.deploy (scoped to the function for
// a function's store; unscoped for shared stores), deleting a shared store functions.delete.
//
// The io thread only; the store's calls (which block on SQLite and wait for a commit) run on
// `blocking_executor`.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <string_view>

#include "gateway/access_control.hpp"
#include "gateway/audit_trail.hpp"
#include "gateway/http_server.hpp"
#include "store/state_store.hpp"

namespace fnd::gateway {

class ClientStream;

class StateAdminApi {
 public:
  StateAdminApi(store::StateStore& state, boost::asio::any_io_executor blocking_executor, AuditTrail& audit)
      : state_(state), blocking_executor_(std::move(blocking_executor)), audit_(audit) {}

  // Whether `path` (query included) is under /api/v1/state.
  static bool serves(std::string_view path);
  boost::asio::awaitable<bool> handle(Request& request, std::string_view path, ClientStream& client,
                                      const Caller& caller);

 private:
  store::StateStore& state_;
  boost::asio::any_io_executor blocking_executor_;
  AuditTrail& audit_;
};

}  // namespace fnd::gateway
