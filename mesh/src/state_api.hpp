// The state API of the node-level endpoint, over the calling function's own store ("fn:NAME") of
// the StateStore:
//   GET    /v1/state/KEY   the value (application/octet-stream) with its ETag; If-None-Match
//                          with that ETag: 304
//   PUT    /v1/state/KEY   the body becomes the value: 201 created or 200 replaced, with the new
//                          ETag; If-Match: ETAG|*, If-None-Match: * (create only), ?ttl=30s
//   DELETE /v1/state/KEY   204, or 404 when there was no key; If-Match: ETAG|*
//   GET    /v1/state?prefix=P&after=K&limit=N   {"keys": [...], "next": K}
//   POST   /v1/state       {"get": [K...]}: several keys at one instant; {"ops": [...]}: a
//                          transaction, all or nothing, per-op If-Match / If-None-Match / ttl
// and the same under /v1/stores/STORE/... for the shared store STORE, when it grants the caller
// (403 kStateStoreForbidden otherwise).
// A failed precondition is the store's 412 naming the key, its other errors keep their status.
//
// Reads run on the io thread (SQLite's page cache: microseconds, never behind a commit); writes
// go to the store's writer and the request waits for their commit without holding the thread.
// Not thread safe: the io thread only. Private to the mesh module.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/json/fwd.hpp>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "mesh_http.hpp"
#include "mesh_route.hpp"
#include "store/state_store.hpp"

namespace fnd::mesh::internal {

// 403: the caller named a shared store that does not exist or does not grant it.
inline constexpr std::string_view kStateStoreForbidden = "state_store_forbidden";

// The ops of a transaction body {"ops": [{"op": "put"|"delete", "key", "value" | "valueBase64",
// "ifMatch", "ifNoneMatch", "ttl"}]}. Errors: 400 kInvalidStateRequest naming the op.
Result<std::vector<store::StateOp>> transaction_ops(const boost::json::value& body);

// What a PUT asks of the key: If-Match (an ETag or "*"), If-None-Match (only "*") and the query's
// ttl (a duration such as "30s"). Errors: 400 kInvalidStateRequest naming the header or parameter.
Result<store::PutOptions> put_options(std::string_view if_match, std::string_view if_none_match,
                                      const std::map<std::string, std::string>& query);
// What a DELETE asks of the key: If-Match only. Errors as put_options.
Result<store::Precondition> delete_precondition(std::string_view if_match, std::string_view if_none_match);

class StateApi {
 public:
  // `store` must outlive the api; `executor` is the io thread's.
  StateApi(store::StateStore& store, boost::asio::any_io_executor executor)
      : store_(store), executor_(std::move(executor)) {}

  // `route` is a state_key or state_list route; `caller` the calling function.
  boost::asio::awaitable<Answer> handle(Request& request, const MeshRoute& route, std::string_view caller);

 private:
  Answer get(const Request& request, const std::string& store, const std::string& key);
  Answer list(const std::string& store, const std::map<std::string, std::string>& query);
  boost::asio::awaitable<Answer> put(Request& request, const std::string& store, const std::string& key,
                                     const std::map<std::string, std::string>& query);
  boost::asio::awaitable<Answer> del(const Request& request, const std::string& store, const std::string& key);
  boost::asio::awaitable<Answer> bulk(Request& request, const std::string& store);

  store::StateStore& store_;
  boost::asio::any_io_executor executor_;
};

}  // namespace fnd::mesh::internal
