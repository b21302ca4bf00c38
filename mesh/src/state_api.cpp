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
#include <charconv>
#include <chrono>
#include <memory>
#include <optional>
#include <utility>

#include "core/time.hpp"
#include "core/units.hpp"

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

asio::awaitable<Answer> StateApi::handle(Request& request, const MeshRoute& route, std::string_view caller) {
  const std::string store = store::function_store(caller);
  const auto query = parse_query(route.query);
  if (route.kind == RouteKind::state_list) {
    if (request.method() != http::verb::get) co_return error_answer(method_not_allowed(request, "GET"));
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

}  // namespace fnd::mesh::internal
