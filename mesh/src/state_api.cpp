#include "state_api.hpp"

#include <fmt/format.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <charconv>
#include <chrono>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "core/base64.hpp"
#include "core/json.hpp"
#include "core/time.hpp"
#include "core/units.hpp"
#include "core/utf8.hpp"

namespace fnd::mesh::internal {

namespace asio = boost::asio;
namespace http = boost::beast::http;
namespace json = boost::json;

namespace {

Error invalid_request(std::string message) {
  return make_error(std::string(store::kInvalidStateRequest), std::move(message), 400);
}

std::string_view trimmed(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

Error method_not_allowed(const Request& request, std::string_view allowed) {
  return make_error("method_not_allowed",
                    fmt::format("{} is not allowed on {}; use {}", std::string_view(request.method_string()),
                                std::string_view(request.target()), allowed),
                    405);
}

// A write's completion, handed from the store's writer thread to the io thread. The timer only
// wakes the waiting coroutine; it never expires by itself.
template <typename T>
struct CommitWait {
  explicit CommitWait(const asio::any_io_executor& executor)
      : executor(executor), wake(executor, std::chrono::steady_clock::time_point::max()) {}
  asio::any_io_executor executor;
  asio::steady_timer wake;
  std::optional<Result<T>> result;
};

// Queues a write with `start(callback)` (one of the store's _async calls) and waits for its
// commit. The store runs the callback on its writer thread, which only posts to the io thread.
template <typename T, typename Start>
asio::awaitable<Result<T>> committed(asio::any_io_executor executor, Start start) {
  auto wait = std::make_shared<CommitWait<T>>(executor);
  Status queued = start([wait](Result<T> result) {
    asio::post(wait->executor, [wait, result = std::move(result)]() mutable {
      wait->result.emplace(std::move(result));
      wait->wake.cancel();
    });
  });
  if (!queued) co_return queued.error();
  while (!wait->result) co_await wait->wake.async_wait(asio::as_tuple(asio::use_awaitable));
  co_return std::move(*wait->result);
}

std::optional<std::string> if_match_of(std::string_view if_match) {
  if_match = trimmed(if_match);
  if (if_match.empty()) return std::nullopt;
  return std::string(if_match);
}

}  // namespace

Result<store::PutOptions> put_options(std::string_view if_match, std::string_view if_none_match,
                                      const std::map<std::string, std::string>& query) {
  store::PutOptions options;
  options.condition.if_match = if_match_of(if_match);
  if_none_match = trimmed(if_none_match);
  if (if_none_match == "*") {
    options.condition.if_none_match_any = true;
  } else if (!if_none_match.empty()) {
    return invalid_request(
        fmt::format("If-None-Match: {} is not supported on PUT; use If-None-Match: * (create only) "
                    "or If-Match with the ETag you read",
                    if_none_match));
  }
  if (auto ttl = query.find("ttl"); ttl != query.end()) {
    auto duration = parse_duration(ttl->second);
    if (!duration || duration->count() <= 0) {
      return invalid_request(
          fmt::format("ttl '{}' is not a positive duration; use one such as 30s, 5m or 1h", ttl->second));
    }
    options.ttl = *duration;
  }
  return options;
}

Result<store::Precondition> delete_precondition(std::string_view if_match, std::string_view if_none_match) {
  if (!trimmed(if_none_match).empty()) {
    return invalid_request("If-None-Match is not supported on DELETE; use If-Match with the ETag you read, or *");
  }
  store::Precondition condition;
  condition.if_match = if_match_of(if_match);
  return condition;
}

Result<std::vector<store::StateOp>> transaction_ops(const json::value& body) {
  const json::value* ops = body.is_object() ? body.get_object().if_contains("ops") : nullptr;
  if (!ops || !ops->is_array()) {
    return invalid_request(
        "a transaction is {\"ops\": [{\"op\": \"put\", \"key\": K, \"value\": V}, {\"op\": "
        "\"delete\", \"key\": K}]} with optional ifMatch, ifNoneMatch and ttl per op");
  }
  std::vector<store::StateOp> out;
  size_t index = 0;
  for (const auto& item : ops->get_array()) {
    const json::object* op = item.if_object();
    auto text = [&](std::string_view field) -> std::optional<std::string> {
      const json::value* v = op ? op->if_contains(field) : nullptr;
      if (!v || !v->is_string()) return std::nullopt;
      return std::string(v->get_string());
    };
    auto kind = text("op");
    auto key = text("key");
    if (!op || !kind || !key || (*kind != "put" && *kind != "delete")) {
      return invalid_request(fmt::format("transaction op {} needs \"op\" (put or delete) and \"key\"", index));
    }
    std::map<std::string, std::string> query;
    if (auto ttl = text("ttl")) query["ttl"] = *ttl;
    auto options = put_options(text("ifMatch").value_or(""), text("ifNoneMatch").value_or(""), query);
    if (!options) return options.error();
    if (*kind == "delete") {
      out.push_back(store::StateOp::del(std::move(*key), std::move(options->condition)));
    } else {
      std::optional<std::string> value = text("value");
      if (auto encoded = text("valueBase64")) value = base64_decode(*encoded);
      if (!value) {
        return invalid_request(
            fmt::format("transaction op {} (put '{}') needs \"value\" (text) or \"valueBase64\"", index, *key));
      }
      out.push_back(store::StateOp::put(std::move(*key), std::move(*value), std::move(*options)));
    }
    ++index;
  }
  return out;
}

asio::awaitable<Answer> StateApi::handle(Request& request, const MeshRoute& route, std::string_view caller) {
  std::string store = store::function_store(caller);
  if (!route.store.empty()) {
    store = store::shared_store(route.store);
    auto allowed = store_.may_access(caller, store);
    if (!allowed) co_return error_answer(allowed.error());
    if (!*allowed) {
      co_return error_answer(
          make_error(std::string(kStateStoreForbidden),
                     fmt::format("function '{}' may not use the shared store '{}': it does not exist "
                                 "or does not grant it (an operator grants it: fnctl state grant {} {})",
                                 caller, route.store, route.store, caller),
                     403));
    }
  }
  const auto query = parse_query(route.query);
  if (route.kind == RouteKind::state_list) {
    if (request.method() == http::verb::post) co_return co_await bulk(request, store);
    if (request.method() != http::verb::get) co_return error_answer(method_not_allowed(request, "GET or POST"));
    co_return list(store, query);
  }
  switch (request.method()) {
    case http::verb::get:
      co_return get(request, store, route.name);
    case http::verb::put:
      co_return co_await put(request, store, route.name, query);
    case http::verb::delete_:
      co_return co_await del(request, store, route.name);
    default:
      co_return error_answer(method_not_allowed(request, "GET, PUT or DELETE"));
  }
}

Answer StateApi::get(const Request& request, const std::string& store, const std::string& key) {
  auto entry = store_.get(store, key);
  if (!entry) return error_answer(entry.error());
  Answer answer;
  answer.headers.emplace_back("ETag", entry->etag);
  if (entry->expires_at) answer.headers.emplace_back("X-Fnd-Expires-At", format_rfc3339(*entry->expires_at));
  if (trimmed(request[http::field::if_none_match]) == entry->etag) {
    answer.status = 304;
    answer.content_type.clear();
    return answer;
  }
  answer.content_type = "application/octet-stream";
  answer.body = std::move(entry->value);
  return answer;
}

Answer StateApi::list(const std::string& store, const std::map<std::string, std::string>& query) {
  auto param = [&](const char* name) {
    auto it = query.find(name);
    return it == query.end() ? std::string() : it->second;
  };
  size_t limit = 0;
  if (std::string text = param("limit"); !text.empty()) {
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), limit);
    if (ec != std::errc() || end != text.data() + text.size()) {
      return error_answer(invalid_request(fmt::format("limit '{}' is not a number of keys", text)));
    }
  }
  auto page = store_.list(store, param("prefix"), param("after"), limit);
  if (!page) return error_answer(page.error());
  json::array keys;
  for (const auto& info : page->keys) {
    json::object item{{"key", info.key}, {"etag", info.etag}, {"size", info.value_bytes}};
    if (info.expires_at) item["expiresAt"] = format_rfc3339(*info.expires_at);
    keys.push_back(std::move(item));
  }
  json::object out{{"keys", std::move(keys)}};
  if (page->next_after) out["next"] = *page->next_after;
  return json_answer(200, out);
}

asio::awaitable<Answer> StateApi::put(Request& request, const std::string& store, const std::string& key,
                                      const std::map<std::string, std::string>& query) {
  auto options = put_options(request[http::field::if_match], request[http::field::if_none_match], query);
  if (!options) co_return error_answer(options.error());
  std::string value = std::move(request.body());
  auto written = co_await committed<store::PutOutcome>(executor_, [&](store::StateStore::PutCallback done) {
    return store_.put_async(store, key, std::move(value), std::move(*options), std::move(done));
  });
  if (!written) co_return error_answer(written.error());
  json::object out{{"key", key}, {"etag", written->etag}};
  Answer answer = json_answer(written->created ? 201 : 200, out);
  answer.headers.emplace_back("ETag", written->etag);
  co_return answer;
}

asio::awaitable<Answer> StateApi::del(const Request& request, const std::string& store, const std::string& key) {
  auto condition = delete_precondition(request[http::field::if_match], request[http::field::if_none_match]);
  if (!condition) co_return error_answer(condition.error());
  auto removed = co_await committed<bool>(executor_, [&](store::StateStore::DeleteCallback done) {
    return store_.del_async(store, key, std::move(*condition), std::move(done));
  });
  if (!removed) co_return error_answer(removed.error());
  if (!*removed) {
    co_return error_answer(make_error(std::string(store::kStateKeyNotFound),
                                      fmt::format("no key '{}' in this function's state", key), 404));
  }
  co_return empty_answer(204);
}

namespace {

json::object entry_json(std::string_view key, const store::StateEntry& entry) {
  json::object out{{"key", key}, {"etag", entry.etag}};
  if (is_valid_utf8(entry.value))
    out["value"] = entry.value;
  else
    out["valueBase64"] = base64_encode(entry.value);
  if (entry.expires_at) out["expiresAt"] = format_rfc3339(*entry.expires_at);
  return out;
}

}  // namespace

asio::awaitable<Answer> StateApi::bulk(Request& request, const std::string& store) {
  auto body = parse_json(request.body());
  if (!body) co_return error_answer(body.error());
  const json::object* order = body->if_object();
  if (order && order->contains("get")) {
    const json::value& wanted = order->at("get");
    std::vector<std::string> keys;
    if (wanted.is_array()) {
      for (const auto& key : wanted.get_array()) {
        if (!key.is_string()) {
          keys.clear();
          break;
        }
        keys.emplace_back(key.get_string());
      }
    }
    if (keys.empty())
      co_return error_answer(invalid_request("a bulk get is {\"get\": [\"key\", ...]} with at least one key"));
    auto entries = store_.get_many(store, keys);
    if (!entries) co_return error_answer(entries.error());
    json::array out;
    for (const auto& item : *entries) {
      if (item.entry)
        out.push_back(entry_json(item.key, *item.entry));
      else
        out.push_back(json::object{{"key", item.key}, {"found", false}});
    }
    json::object answer{{"entries", std::move(out)}};
    co_return json_answer(200, answer);
  }
  auto ops = transaction_ops(*body);
  if (!ops) co_return error_answer(ops.error());
  std::vector<store::StateOp> applied = *ops;  // the results name each op's key and kind
  auto done =
      co_await committed<std::vector<store::OpOutcome>>(executor_, [&](store::StateStore::TransactionCallback cb) {
        return store_.transact_async(store, std::move(*ops), std::move(cb));
      });
  if (!done) co_return error_answer(done.error());
  json::array results;
  for (size_t i = 0; i < done->size() && i < applied.size(); ++i) {
    const bool put = applied[i].kind == store::StateOp::Kind::put;
    json::object item{{"key", applied[i].key}, {"op", put ? "put" : "delete"}, {"existed", (*done)[i].existed}};
    if (put) item["etag"] = (*done)[i].etag;
    results.push_back(std::move(item));
  }
  json::object answer{{"results", std::move(results)}};
  co_return json_answer(200, answer);
}

}  // namespace fnd::mesh::internal
