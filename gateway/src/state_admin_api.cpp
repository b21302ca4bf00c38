#include "gateway/state_admin_api.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/json.hpp>
#include <charconv>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "client_stream.hpp"
#include "core/json.hpp"
#include "core/time.hpp"
#include "core/units.hpp"
#include "gateway/responses.hpp"
#include "query.hpp"

namespace fnd::gateway {

namespace asio = boost::asio;
namespace http = boost::beast::http;
namespace json = boost::json;

namespace {

constexpr std::string_view kPrefix = "/api/v1/state";

Error invalid(std::string message) {
  return make_error(std::string(store::kInvalidStateRequest), std::move(message), 400);
}

Error method_not_allowed(const Request& request, std::string_view allowed) {
  return make_error("method_not_allowed",
                    fmt::format("{} is not allowed on {}; use {}", std::string_view(request.method_string()),
                                std::string_view(request.target()), allowed),
                    405);
}

// What the path names: a store ("fn:NAME" or "shared:NAME") and maybe a key.
struct StatePath {
  enum class Kind { all_stores, shared_store, keys, key } kind = Kind::all_stores;
  std::string store;
  std::string owner;  // the function of a function's store; empty for a shared store
  std::string key;
};

Result<StatePath> parse_path(std::string_view rest) {
  StatePath out;
  if (rest.empty() || rest == "/" || rest == "/stores" || rest == "/stores/") return out;
  auto unknown = [&] {
    return make_error("not_found",
                      fmt::format("no state API endpoint {}{}: use /api/v1/state/stores, /api/v1/state/stores/STORE, "
                                  "or /api/v1/state/functions/NAME/keys[/KEY] (and stores/STORE/keys[/KEY])",
                                  kPrefix, rest),
                      404);
  };
  std::string_view kind;
  if (rest.starts_with("/functions/"))
    kind = "functions";
  else if (rest.starts_with("/stores/"))
    kind = "stores";
  else
    return unknown();
  rest.remove_prefix(kind.size() + 2);
  const size_t slash = rest.find('/');
  std::string name = internal::percent_decode(rest.substr(0, slash));
  rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
  out.store = kind == "functions" ? store::function_store(name) : store::shared_store(name);
  if (kind == "functions") out.owner = name;
  if (Status valid = store::validate_state_store(out.store); !valid) return valid.error();
  if (rest.empty() || rest == "/") {
    if (kind == "functions") return unknown();
    out.kind = StatePath::Kind::shared_store;
    return out;
  }
  if (rest == "/keys" || rest == "/keys/") {
    out.kind = StatePath::Kind::keys;
    return out;
  }
  if (!rest.starts_with("/keys/")) return unknown();
  out.kind = StatePath::Kind::key;
  out.key = internal::percent_decode(rest.substr(6));
  return out;
}

// One answer, computed on the blocking executor and written on the io thread.
struct Reply {
  std::optional<Error> error;
  unsigned status = 200;
  json::value body;
  std::optional<std::string> raw;  // a value, as application/octet-stream
  HeaderFields headers;
};

Reply failed(Error e) {
  Reply r;
  r.error = std::move(e);
  return r;
}

json::object usage_json(const store::StoreInfo& info) {
  json::array granted;
  for (const auto& fn : info.granted) granted.emplace_back(fn);
  return {{"name", info.name},
          {"keys", info.usage.keys},
          {"bytes", info.usage.bytes},
          {"quotaBytes", info.usage.quota_bytes},
          {"granted", std::move(granted)}};
}

// The request's parts the blocking work needs (the Request stays on the io thread).
struct Order {
  http::verb method;
  StatePath path;
  std::map<std::string, std::string> query;
  std::string if_match;
  std::string if_none_match;
  std::string body;
};

Reply store_info(store::StateStore& state, const std::string& name) {
  auto stores = state.list_stores();
  if (!stores) return failed(stores.error());
  for (const auto& info : *stores) {
    if (info.name == name) return Reply{{}, 200, usage_json(info), {}, {}};
  }
  return failed(make_error(std::string(store::kStateStoreNotFound),
                           fmt::format("no shared store '{}'; create it with PUT {}/stores/{} or fnctl state grant",
                                       name.substr(7), kPrefix, name.substr(7)),
                           404));
}

// PUT stores/S {"grants": [...]}: creates S when missing, then grants exactly those functions.
Reply put_store(store::StateStore& state, const Order& order) {
  auto body = parse_json(order.body.empty() ? std::string_view("{}") : std::string_view(order.body));
  if (!body) return failed(body.error());
  std::vector<std::string> wanted;
  const json::value* grants = body->is_object() ? body->get_object().if_contains("grants") : nullptr;
  if (grants && !grants->is_array()) return failed(invalid("field 'grants' must be a list of function names"));
  if (grants) {
    for (const auto& fn : grants->get_array()) {
      if (!fn.is_string()) return failed(invalid("field 'grants' must be a list of function names"));
      wanted.emplace_back(fn.get_string());
    }
  }
  const std::string name = order.path.store.substr(7);  // after "shared:"
  bool created = false;
  if (Status made = state.create_shared_store(name); made) {
    created = true;
  } else if (made.error().code != store::kStateStoreExists) {
    return failed(made.error());
  }
  auto stores = state.list_stores();
  if (!stores) return failed(stores.error());
  for (const auto& info : *stores) {
    if (info.name != order.path.store) continue;
    for (const auto& fn : info.granted) {
      if (std::find(wanted.begin(), wanted.end(), fn) != wanted.end()) continue;
      if (auto revoked = state.revoke(order.path.store, fn); !revoked) return failed(revoked.error());
    }
  }
  for (const auto& fn : wanted) {
    if (auto granted = state.grant(order.path.store, fn); !granted) return failed(granted.error());
  }
  Reply r = store_info(state, order.path.store);
  if (!r.error && created) r.status = 201;
  return r;
}

Reply list_keys(store::StateStore& state, const Order& order) {
  auto param = [&](const char* name) {
    auto it = order.query.find(name);
    return it == order.query.end() ? std::string() : it->second;
  };
  size_t limit = 0;
  if (std::string text = param("limit"); !text.empty()) {
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), limit);
    if (ec != std::errc() || end != text.data() + text.size()) {
      return failed(invalid(fmt::format("limit '{}' is not a number of keys", text)));
    }
  }
  auto page = state.list(order.path.store, param("prefix"), param("after"), limit);
  if (!page) return failed(page.error());
  json::array keys;
  for (const auto& info : page->keys) {
    json::object item{{"key", info.key}, {"etag", info.etag}, {"size", info.value_bytes}};
    if (info.expires_at) item["expiresAt"] = format_rfc3339(*info.expires_at);
    keys.push_back(std::move(item));
  }
  json::object out{{"store", order.path.store}, {"keys", std::move(keys)}};
  if (page->next_after) out["next"] = *page->next_after;
  return Reply{{}, 200, std::move(out), {}, {}};
}

Reply key_op(store::StateStore& state, Order& order) {
  const auto& path = order.path;
  if (order.method == http::verb::get) {
    auto entry = state.get(path.store, path.key);
    if (!entry) return failed(entry.error());
    Reply r;
    r.headers.emplace_back("ETag", entry->etag);
    if (entry->expires_at) r.headers.emplace_back("X-Fnd-Expires-At", format_rfc3339(*entry->expires_at));
    r.raw = std::move(entry->value);
    return r;
  }
  store::Precondition condition;
  if (!order.if_match.empty()) condition.if_match = order.if_match;
  if (order.method == http::verb::delete_) {
    if (!order.if_none_match.empty()) return failed(invalid("If-None-Match is not supported on DELETE; use If-Match"));
    auto removed = state.del(path.store, path.key, condition);
    if (!removed) return failed(removed.error());
    if (!*removed) {
      return failed(make_error(std::string(store::kStateKeyNotFound),
                               fmt::format("no key '{}' in the store {}", path.key, path.store), 404));
    }
    return Reply{{}, 200, json::object{{"deleted", path.key}, {"store", path.store}}, {}, {}};
  }
  store::PutOptions options;
  options.condition = condition;
  if (order.if_none_match == "*")
    options.condition.if_none_match_any = true;
  else if (!order.if_none_match.empty())
    return failed(invalid("If-None-Match takes only * (create only) on PUT"));
  if (auto ttl = order.query.find("ttl"); ttl != order.query.end()) {
    auto duration = parse_duration(ttl->second);
    if (!duration || duration->count() <= 0) {
      return failed(
          invalid(fmt::format("ttl '{}' is not a positive duration; use one such as 30s, 5m or 1h", ttl->second)));
    }
    options.ttl = *duration;
  }
  auto written = state.put(path.store, path.key, std::move(order.body), options);
  if (!written) return failed(written.error());
  Reply r{{},
          written->created ? 201u : 200u,
          json::object{{"key", path.key}, {"store", path.store}, {"etag", written->etag}},
          {},
          {}};
  r.headers.emplace_back("ETag", written->etag);
  return r;
}

Reply serve(store::StateStore& state, Order& order) {
  switch (order.path.kind) {
    case StatePath::Kind::all_stores: {
      auto stores = state.list_stores();
      if (!stores) return failed(stores.error());
      json::array out;
      for (const auto& info : *stores) out.push_back(usage_json(info));
      return Reply{{}, 200, json::object{{"stores", std::move(out)}}, {}, {}};
    }
    case StatePath::Kind::shared_store:
      if (order.method == http::verb::get) return store_info(state, order.path.store);
      if (order.method == http::verb::put) return put_store(state, order);
      {
        auto removed = state.delete_store(order.path.store);
        if (!removed) return failed(removed.error());
        if (!*removed) return store_info(state, order.path.store);  // its 404
        return Reply{{}, 200, json::object{{"deleted", order.path.store}}, {}, {}};
      }
    case StatePath::Kind::keys:
      return list_keys(state, order);
    case StatePath::Kind::key:
      return key_op(state, order);
  }
  return failed(make_error("internal_error", "unknown state path", 500));
}

// The methods each kind of path takes.
std::string_view allowed_methods(StatePath::Kind kind) {
  switch (kind) {
    case StatePath::Kind::all_stores:
    case StatePath::Kind::keys:
      return "GET";
    case StatePath::Kind::shared_store:
    case StatePath::Kind::key:
      return "GET, PUT or DELETE";
  }
  return "GET";
}

}  // namespace

bool StateAdminApi::serves(std::string_view path) {
  return path.starts_with(kPrefix) &&
         (path.size() == kPrefix.size() || path[kPrefix.size()] == '/' || path[kPrefix.size()] == '?');
}

asio::awaitable<bool> StateAdminApi::handle(Request& request, std::string_view path, ClientStream& client,
                                            const Caller& caller) {
  const unsigned version = request.version();
  const bool keep_alive = request.keep_alive();
  std::string_view query;
  if (auto q = path.find('?'); q != std::string_view::npos) query = path.substr(q + 1);
  path = path.substr(0, path.find('?'));
  auto parsed = parse_path(path.substr(kPrefix.size()));
  if (!parsed) co_return co_await write_error(client, parsed.error(), version, keep_alive);
  const http::verb method = request.method();
  const bool reading = method == http::verb::get;
  const bool writes_allowed = parsed->kind == StatePath::Kind::shared_store || parsed->kind == StatePath::Kind::key;
  if (!reading && !(writes_allowed && (method == http::verb::put || method == http::verb::delete_))) {
    co_return co_await write_error(client, method_not_allowed(request, allowed_methods(parsed->kind)), version,
                                   keep_alive);
  }
  Permission needed = reading ? Permission::read_functions : Permission::deploy_functions;
  if (parsed->kind == StatePath::Kind::shared_store && method == http::verb::delete_)
    needed = Permission::delete_functions;
  if (auto allowed = caller.may(needed, parsed->owner); !allowed) {
    co_return co_await write_error(client, allowed.error(), version, keep_alive);
  }
  Order order{method,
              std::move(*parsed),
              internal::parse_query(query),
              std::string(request[http::field::if_match]),
              std::string(request[http::field::if_none_match]),
              std::move(request.body())};
  using Computed = std::optional<Reply>;  // co_spawn needs a default-constructible result
  Computed computed = co_await asio::co_spawn(
      blocking_executor_, [this, &order]() -> asio::awaitable<Computed> { co_return serve(state_, order); },
      asio::use_awaitable);
  Reply reply = std::move(*computed);
  if (!reading) {
    std::string target = order.path.key.empty() ? order.path.store : order.path.store + "/" + order.path.key;
    audit_.record(caller.principal, method == http::verb::delete_ ? "state.delete" : "state.put", target,
                  reply.error ? Status(*reply.error) : Status{});
  }
  if (reply.error) co_return co_await write_error(client, *reply.error, version, keep_alive);
  if (reply.raw) {
    co_return co_await write_bytes(client, reply.status, std::move(*reply.raw), "application/octet-stream", version,
                                   keep_alive, reply.headers);
  }
  co_return co_await write_json(client, reply.status, reply.body, version, keep_alive, reply.headers);
}

}  // namespace fnd::gateway
