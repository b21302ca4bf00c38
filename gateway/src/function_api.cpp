#include "gateway/function_api.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <boost/asio.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <charconv>

#include "client_stream.hpp"
#include "core/json.hpp"
#include "core/names.hpp"
#include "core/units.hpp"
#include "gateway/responses.hpp"
#include "query.hpp"
#include "scheduler/traffic_split.hpp"

namespace fnd::gateway {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

Error method_not_allowed(const Request& request, std::string_view allowed) {
  return make_error("method_not_allowed", fmt::format("{} is not allowed on {}; use {}", std::string_view(request.method_string()),
                                                      std::string_view(request.target()), allowed), 405);
}

json::object revision_json(const store::Revision& rev) {
  json::object out{{"revision", rev.number}, {"code", rev.spec.code}, {"created_at", format_rfc3339(rev.created_at)}};
  if (!rev.damage.empty()) out["damage"] = rev.damage;
  return out;
}

// The function's latest revision as an entity tag: If-Match compares against it.
std::string revision_etag(uint32_t revision) { return fmt::format("\"{}\"", revision); }

// If-Match: "N" (or N, or *) and If-None-Match: * on a spec PUT.
Result<store::RevisionPrecondition> read_precondition(const Request& request) {
  store::RevisionPrecondition want;
  if (auto match = request[http::field::if_match]; !match.empty()) {
    std::string_view tag = match;
    if (tag.starts_with("W/")) tag.remove_prefix(2);
    if (tag == "*") {
      want.must_exist = true;
    } else {
      if (tag.size() >= 2 && tag.front() == '"' && tag.back() == '"') tag = tag.substr(1, tag.size() - 2);
      uint32_t number = 0;
      auto [end, ec] = std::from_chars(tag.data(), tag.data() + tag.size(), number);
      if (ec != std::errc() || end != tag.data() + tag.size() || tag.empty()) {
        return make_error("invalid_precondition", fmt::format("If-Match '{}' is not a revision: use the ETag of GET "
                                                              "/api/v1/functions/NAME (e.g. \"3\") or *", match), 400);
      }
      want.latest_is = number;
    }
  }
  if (auto none = request[http::field::if_none_match]; !none.empty()) {
    if (none != "*") return make_error("invalid_precondition", "If-None-Match takes only * (create the function only if it does not exist)", 400);
    want.must_not_exist = true;
  }
  return want;
}

std::string format_log_line(const store::LogLine& line) {
  return fmt::format("{} {} {}: {}\n", format_rfc3339(line.time), line.instance, store::to_string(line.stream), line.text);
}

json::object log_line_json(const store::LogLine& line) {
  return {{"time", format_rfc3339(line.time)}, {"instance", line.instance},
          {"stream", store::to_string(line.stream)}, {"line", line.text}};
}

}  // namespace

asio::awaitable<bool> FunctionApi::handle(Request& request, std::string_view rest, ClientStream& client,
                                          const Caller& caller) {
  const unsigned version = request.version();
  const bool keep_alive = request.keep_alive();
  std::string_view query;
  if (auto q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  if (rest.empty() || rest == "/") {
    if (request.method() != http::verb::get) co_return co_await write_error(client, method_not_allowed(request, "GET"), version, keep_alive);
    if (auto allowed = caller.may(Permission::read_functions); !allowed) {
      co_return co_await write_error(client, allowed.error(), version, keep_alive);
    }
    co_return co_await list(request, client, caller.principal);
  }
  rest.remove_prefix(1);
  auto slash = rest.find('/');
  std::string name(rest.substr(0, slash));
  std::string_view sub = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
  if (Status valid = validate_name("function", name); !valid) co_return co_await write_error(client, valid.error(), version, keep_alive);

  // The permission each call needs, checked before anything else is looked at.
  std::optional<Permission> needed;
  if (sub.empty()) {
    switch (request.method()) {
      case http::verb::put: needed = Permission::deploy_functions; break;
      case http::verb::get: needed = Permission::read_functions; break;
      case http::verb::delete_: needed = Permission::delete_functions; break;
      default: co_return co_await write_error(client, method_not_allowed(request, "GET, PUT or DELETE"), version, keep_alive);
    }
  } else if (sub == "/code") {
    if (request.method() != http::verb::put) co_return co_await write_error(client, method_not_allowed(request, "PUT"), version, keep_alive);
    needed = Permission::deploy_functions;
  } else if (sub == "/logs") {
    if (request.method() != http::verb::get) co_return co_await write_error(client, method_not_allowed(request, "GET"), version, keep_alive);
    needed = Permission::read_functions;
  } else if (sub == "/traffic") {
    switch (request.method()) {
      case http::verb::get:
        needed = Permission::read_functions;
        break;
      case http::verb::put:
      case http::verb::delete_:
        needed = Permission::deploy_functions;
        break;
      default:
        co_return co_await write_error(client, method_not_allowed(request, "GET, PUT or DELETE"), version, keep_alive);
    }
  }
  if (needed) {
    if (auto allowed = caller.may(*needed, name); !allowed) {
      co_return co_await write_error(client, allowed.error(), version, keep_alive);
    }
    if (sub == "/code") co_return co_await put_code(request, name, client, caller);
    if (sub == "/logs") co_return co_await logs(request, name, query, client);
    if (sub == "/traffic") co_return co_await traffic(request, name, client, caller);
    switch (*needed) {
      case Permission::deploy_functions: co_return co_await put_spec(request, name, client, caller);
      case Permission::delete_functions: co_return co_await remove(request, name, client, caller);
      default: co_return co_await describe(request, name, client);
    }
  }
  co_return co_await write_error(client, make_error("not_found", fmt::format("no API endpoint {}; see docs/api.md", std::string_view(request.target())), 404),
                                 version, keep_alive);
}

asio::awaitable<bool> FunctionApi::put_spec(Request& request, const std::string& name, ClientStream& client,
                                            const Caller& caller) {
  const unsigned version = request.version();
  const bool keep_alive = request.keep_alive();
  auto body = parse_json(request.body());
  if (!body) co_return co_await write_error(client, body.error(), version, keep_alive);
  auto spec = config::spec_from_json(*body);
  if (!spec) co_return co_await write_error(client, spec.error(), version, keep_alive);
  if (!spec->name.empty() && spec->name != name) {
    co_return co_await write_error(client, make_error("invalid_spec", fmt::format("spec field 'name': '{}' does not match the "
                                                                                  "function '{}' in the URL", spec->name, name), 422),
                                   version, keep_alive);
  }
  spec->name = name;
  if (spec->seccomp == config::SeccompProfile::unconfined) {
    if (auto allowed = caller.may(Permission::unconfined_seccomp); !allowed) {
      co_return co_await write_error(client, allowed.error(), version, keep_alive);
    }
  }
  if (auto missing = missing_secret(spec->secrets)) {
    co_return co_await write_error(client, make_error("invalid_spec", fmt::format(
        "spec field 'secrets': there is no secret named '{}'; create it first (fnctl secret create {} ...)", *missing,
        *missing), 422), version, keep_alive);
  }
  auto precondition = read_precondition(request);
  if (!precondition) co_return co_await write_error(client, precondition.error(), version, keep_alive);
  auto deployed = deployments_.deploy(std::move(*spec), *precondition);
  audit_.record(caller.principal, "function.deploy", name, deployed ? Status{} : Status(deployed.error()),
                deployed ? fmt::format("revision {}", deployed->revision->number) : std::string());
  if (!deployed) co_return co_await write_error(client, deployed.error(), version, keep_alive);
  const store::Revision& revision = *deployed->revision;
  json::object out{{"name", name}, {"revision", revision.number}, {"created", deployed->created},
                   {"spec", config::spec_to_json(revision.spec)}};
  HeaderFields headers{{"ETag", revision_etag(revision.number)}};
  co_return co_await write_json(client, deployed->created ? 201 : 200, out, version, keep_alive, headers);
}

asio::awaitable<bool> FunctionApi::put_code(Request& request, const std::string& name, ClientStream& client,
                                            const Caller& caller) {
  const unsigned version = request.version();
  const bool keep_alive = request.keep_alive();
  std::string archive = std::move(request.body());
  // Unpacking blocks on disk: run it on the blocking pool (optional: co_spawn needs a default-constructible result).
  using Stored = std::optional<Result<store::StoredCode>>;
  Stored unpacked = co_await asio::co_spawn(blocking_executor_, [this, &archive]() -> asio::awaitable<Stored> {
    co_return code_.store_archive(archive);
  }, asio::use_awaitable);
  Result<store::StoredCode> stored = std::move(*unpacked);
  audit_.record(caller.principal, "function.code", name, stored ? Status{} : Status(stored.error()),
                stored ? stored->digest : std::string());
  if (!stored) co_return co_await write_error(client, stored.error(), version, keep_alive);
  // Only stored: a revision is made by the spec PUT that names this digest, so that code and
  // spec of one deploy always travel together (concurrent deploys never mix them).
  spdlog::debug("code {} stored for function {} ({} files)", stored->digest, name, stored->files);
  json::object out{{"digest", stored->digest}, {"bytes", stored->archive_bytes}, {"files", stored->files}};
  co_return co_await write_json(client, 201, out, version, keep_alive);
}

asio::awaitable<bool> FunctionApi::list(Request& request, ClientStream& client, const Principal& principal) {
  auto functions = repository_.list();
  if (!functions) co_return co_await write_error(client, functions.error(), request.version(), request.keep_alive());
  json::array items;
  for (const auto& fn : *functions) {
    if (!principal.allows_function(fn.name)) continue;  // a token limited to shop-* lists only those
    json::object item{{"name", fn.name}, {"revision", fn.latest_revision}, {"instances", status_.instance_count(fn.name)},
                      {"updated_at", format_rfc3339(fn.updated_at)}};
    if (auto rev = deployments_.directory().find(fn.name)) {
      item["runtime"] = config::to_string(rev->spec.runtime);
      item["handler"] = rev->spec.handler;
    } else if (std::string damage = deployments_.directory().damage(fn.name); !damage.empty()) {
      item["broken"] = damage;
    }
    items.push_back(std::move(item));
  }
  // Built before co_await: GCC 12 cannot keep an initializer_list alive across a suspension.
  json::object out{{"functions", std::move(items)}};
  co_return co_await write_json(client, 200, out, request.version(), request.keep_alive());
}

asio::awaitable<bool> FunctionApi::describe(Request& request, const std::string& name, ClientStream& client) {
  const unsigned version = request.version();
  const bool keep_alive = request.keep_alive();
  auto record = repository_.find(name);
  if (!record) co_return co_await write_error(client, record.error(), version, keep_alive);
  if (!*record) co_return co_await write_error(client, deployments_.directory().not_found(name), version, keep_alive);
  auto revisions = repository_.revisions(name);
  if (!revisions) co_return co_await write_error(client, revisions.error(), version, keep_alive);
  json::array revs;
  for (const auto& rev : *revisions) revs.push_back(revision_json(rev));
  json::array instances;
  for (const auto& info : status_.instances(name)) {
    json::object item{{"id", info.id}, {"revision", info.revision}, {"state", info.state}, {"in_flight", info.in_flight}};
    if (info.pid > 0) item["pid"] = info.pid;
    item["origin"] = info.origin;
    if (!info.id.empty()) {
      item["started_at"] = format_rfc3339(info.started_at);
      item["last_used_at"] = format_rfc3339(info.last_used_at);
    }
    instances.push_back(std::move(item));
  }
  json::object spec = revisions->empty() || !revisions->back().damage.empty() ? json::object{}
                                                                              : config::spec_to_json(revisions->back().spec);
  auto scale = status_.scale_status(name);
  json::object scaling{{"current", scale.current}, {"starting", scale.starting}, {"desired", scale.desired},
                       {"mode", scale.mode}, {"stable_demand", scale.stable_demand}, {"panic_demand", scale.panic_demand},
                       {"keep_alive", format_duration(scale.windows.keep_alive)},
                       {"prewarm", format_duration(scale.windows.prewarm)},
                       {"keep_alive_reason", scale.windows.reason},
                       {"cold_starts", scale.cold_starts},
                       {"last_cold_start_ms", scale.last_cold_start_ms},
                       {"mean_cold_start_ms", scale.mean_cold_start_ms}};
  json::object out{{"name", name},
                   {"revision", (*record)->latest_revision},
                   {"spec", std::move(spec)},
                   {"created_at", format_rfc3339((*record)->created_at)},
                   {"updated_at", format_rfc3339((*record)->updated_at)},
                   {"revisions", std::move(revs)},
                   {"instances", std::move(instances)},
                   {"scaling", std::move(scaling)}};
  if (std::string damage = deployments_.directory().damage(name); !damage.empty()) {
    out["broken"] = damage;
  } else {
    out["traffic"] = traffic_json(name);
  }
  HeaderFields headers{{"ETag", revision_etag((*record)->latest_revision)}};
  co_return co_await write_json(client, 200, out, version, keep_alive, headers);
}

asio::awaitable<bool> FunctionApi::remove(Request& request, const std::string& name, ClientStream& client,
                                          const Caller& caller) {
  const unsigned version = request.version();
  const bool keep_alive = request.keep_alive();
  auto stopped = co_await deployments_.remove(name);
  audit_.record(caller.principal, "function.delete", name, stopped ? Status{} : Status(stopped.error()));
  if (!stopped) co_return co_await write_error(client, stopped.error(), version, keep_alive);
  json::object out{{"deleted", name}, {"stopped_instances", *stopped}};
  co_return co_await write_json(client, 200, out, version, keep_alive);
}

json::object FunctionApi::traffic_json(const std::string& name) const {
  const auto& directory = deployments_.directory();
  const scheduler::TrafficSplit* split = directory.traffic(name);
  json::object out = scheduler::traffic_to_json(split ? split->spec() : scheduler::TrafficSpec{});
  json::array effective;
  auto latest = directory.find(name);
  if (split && !split->follows_latest()) {
    for (const auto& weight : split->spec().weights)
      effective.push_back(json::object{{"revision", weight.revision}, {"percent", weight.percent}});
  } else if (latest) {
    effective.push_back(json::object{{"revision", latest->number}, {"percent", 100}});
  }
  json::array served;
  for (uint32_t number : directory.served_revisions(name)) served.push_back(number);
  out["latest"] = latest ? json::value(latest->number) : json::value(nullptr);
  out["effective"] = std::move(effective);
  out["served"] = std::move(served);
  return out;
}

asio::awaitable<bool> FunctionApi::traffic(Request& request, const std::string& name, ClientStream& client,
                                           const Caller& caller) {
  const unsigned version = request.version();
  const bool keep_alive = request.keep_alive();
  if (request.method() != http::verb::get) {
    scheduler::TrafficSpec spec;  // DELETE: every call to the latest revision, no tags
    if (request.method() == http::verb::put) {
      auto body = parse_json(request.body());
      if (!body) co_return co_await write_error(client, body.error(), version, keep_alive);
      auto parsed = scheduler::traffic_from_json(*body);
      if (!parsed) co_return co_await write_error(client, parsed.error(), version, keep_alive);
      spec = std::move(*parsed);
    }
    auto set = deployments_.set_traffic(name, std::move(spec));
    audit_.record(caller.principal, "function.traffic", name, set ? Status{} : Status(set.error()),
                  set ? json::serialize(scheduler::traffic_to_json(set->spec())) : std::string());
    if (!set) co_return co_await write_error(client, set.error(), version, keep_alive);
  } else if (!deployments_.directory().find(name)) {
    co_return co_await write_error(client, deployments_.directory().unavailable(name), version, keep_alive);
  }
  json::object out = traffic_json(name);
  out["name"] = name;
  co_return co_await write_json(client, 200, out, version, keep_alive);
}

std::optional<std::string> FunctionApi::missing_secret(const std::vector<std::string>& names) const {
  if (names.empty() || !secrets_) return std::nullopt;
  auto stored = secrets_->list();
  if (!stored) return std::nullopt;  // the deploy goes on; the instance start reports the store's error
  for (const auto& name : names) {
    bool found = std::any_of(stored->begin(), stored->end(), [&](const store::SecretInfo& info) { return info.name == name; });
    if (!found) return name;
  }
  return std::nullopt;
}

bool FunctionApi::known(std::string_view name) const {
  return deployments_.directory().find(name) != nullptr || !deployments_.directory().damage(name).empty();
}

asio::awaitable<bool> FunctionApi::logs(Request& request, const std::string& name, std::string_view query,
                                        ClientStream& client) {
  const unsigned version = request.version();
  const bool keep_alive = request.keep_alive();
  if (!known(name)) co_return co_await write_error(client, deployments_.directory().not_found(name), version, keep_alive);
  auto params = internal::parse_query(query);
  bool follow = internal::truthy(params["follow"]);
  bool as_json = params["format"] == "json";
  std::optional<SystemTime> since;
  if (auto s = params["since"]; !s.empty()) {
    if (auto t = parse_rfc3339(s)) {
      since = *t;
    } else if (auto d = parse_duration(s)) {
      since = std::chrono::system_clock::now() - *d;
    } else {
      co_return co_await write_error(client, make_error("invalid_since", fmt::format("since='{}' is neither an RFC 3339 time "
                                                        "(2026-11-25T14:00:00Z) nor a duration (5m)", s), 400), version, keep_alive);
    }
  }
  auto render = [&](const store::LogRead& read, bool first) {
    std::string out;
    if (first && read.dropped > 0) {
      out += as_json ? json::serialize(json::object{{"dropped", read.dropped}}) + "\n"
                     : fmt::format("# {} older lines were dropped (log limit {} per function)\n", read.dropped,
                                   format_bytes(logs_.max_bytes()));
    }
    for (const auto& line : read.lines) out += as_json ? json::serialize(log_line_json(line)) + "\n" : format_log_line(line);
    return out;
  };
  std::string_view content_type = as_json ? "application/x-ndjson" : "text/plain; charset=utf-8";
  auto read = logs_.read(name, 0, since);
  if (!follow) {
    http::response<http::string_body> res(http::status::ok, version);
    res.set(http::field::content_type, content_type);
    res.body() = render(read, true);
    res.keep_alive(keep_alive);
    res.prepare_payload();
    auto [ec, n] = co_await http::async_write(client, res, asio::as_tuple(asio::use_awaitable));
    co_return !ec && keep_alive;
  }

  // Follow: chunked, one chunk per batch of lines, until the client goes or the function is deleted.
  http::response<http::empty_body> res(http::status::ok, version);
  res.set(http::field::content_type, content_type);
  res.chunked(true);
  res.keep_alive(false);
  http::response_serializer<http::empty_body> serializer(res);
  auto [hec, hn] = co_await http::async_write_header(client, serializer, asio::as_tuple(asio::use_awaitable));
  if (hec) co_return false;
  bool first = true;
  uint64_t next = 0;
  while (true) {
    if (!first) read = logs_.read(name, next, since);
    next = read.next_sequence;
    std::string text = render(read, first);
    first = false;
    if (!text.empty()) {
      auto [ec, n] = co_await asio::async_write(client, http::make_chunk(asio::buffer(text)), asio::as_tuple(asio::use_awaitable));
      if (ec) co_return false;
    }
    co_await logs_.wait_for_lines(name, next, std::chrono::steady_clock::now() + 15s);
    if (!known(name) || logs_.closed()) break;
    // A vanished client shows up as a failed write; probe with an empty read of the socket state.
    if (!client.socket().is_open()) co_return false;
  }
  co_await asio::async_write(client, http::make_chunk_last(), asio::as_tuple(asio::use_awaitable));
  co_return false;
}

}  // namespace fnd::gateway
