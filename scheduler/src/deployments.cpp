#include "scheduler/deployments.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

namespace fnd::scheduler {

namespace asio = boost::asio;

namespace {

Error being_deleted_error(std::string_view name) {
  Error e = make_error(std::string(kFunctionBeingDeleted),
                       fmt::format("function '{}' is being deleted (its requests in flight are finishing); retry once "
                                   "the delete is done", name), 409);
  e.retry_after_seconds = 1;
  return e;
}

}  // namespace

Deployments::Deployments(asio::any_io_executor executor, store::FunctionRepository& repository, store::CodeStore& code,
                         store::DiskReserve& reserve, store::LogStore& logs, FunctionDirectory& directory,
                         RevisionLifecycle& lifecycle, asio::any_io_executor blocking_executor, config::SpecLimits limits)
    : repository_(repository),
      code_(code),
      reserve_(reserve),
      logs_(logs),
      directory_(directory),
      lifecycle_(lifecycle),
      blocking_executor_(std::move(blocking_executor)),
      limits_(limits),
      timer_(executor) {}

void Deployments::subscribe(std::function<void(const DeploymentEvent&)> subscriber) {
  subscribers_.push_back(std::move(subscriber));
}

void Deployments::announce(const DeploymentEvent& event) {
  for (const auto& subscriber : subscribers_) subscriber(event);
}

Status Deployments::load() {
  if (Status st = directory_.load(repository_); !st) return st;
  for (const auto& name : directory_.names()) {
    auto revision = directory_.find(name);
    if (!revision) continue;  // broken: not served until deployed again
    serve(name);
    announce({DeploymentChange::deployed, name, revision});
  }
  return {};
}

void Deployments::serve(const std::string& name) {
  lifecycle_.serve_only(name, directory_.served_revisions(name));
  // Warm pools get ready for the latest revision only; the others start instances on demand.
  lifecycle_.track(directory_.find(name));
}

Result<TrafficSplit> Deployments::set_traffic(const std::string& name, TrafficSpec spec) {
  if (deleting_.contains(name)) return being_deleted_error(name);
  if (!directory_.find(name)) return directory_.unavailable(name);
  auto revisions = repository_.revisions(name);
  if (!revisions) return revisions.error();
  std::vector<uint32_t> numbers;
  for (const auto& revision : *revisions) numbers.push_back(revision.number);
  auto split = TrafficSplit::create(name, std::move(spec), numbers);
  if (!split) return split.error();
  std::vector<std::shared_ptr<const store::Revision>> named;
  for (uint32_t number : split->named_revisions()) {
    auto it = std::find_if(revisions->begin(), revisions->end(), [&](const auto& r) { return r.number == number; });
    if (!it->damage.empty()) {
      return make_error("revision_damaged",
                        fmt::format("{}; it cannot take traffic: name another revision", it->damage), 422);
    }
    named.push_back(std::make_shared<const store::Revision>(std::move(*it)));
  }
  const bool follows_latest = split->spec().weights.empty() && split->spec().tags.empty();
  auto stored = repository_.set_traffic(
      name, follows_latest ? std::string() : boost::json::serialize(traffic_to_json(split->spec())));
  if (!stored) return stored.error();
  if (!*stored) return directory_.not_found(name);
  directory_.set_traffic(name, *split, std::move(named));
  serve(name);
  spdlog::info("function {} traffic set: {}", name, boost::json::serialize(traffic_to_json(split->spec())));
  return std::move(*split);
}

Result<DeployResult> Deployments::deploy(config::FunctionSpec spec, const store::RevisionPrecondition& precondition) {
  const std::string name = spec.name;
  if (deleting_.contains(name)) return being_deleted_error(name);
  if (Status fits = config::check_spec_limits(spec, limits_); !fits) return fits.error();
  if (spec.code.empty()) {
    // No code named: the new revision keeps the latest one's (a spec-only change).
    auto latest = repository_.latest_revision(name);
    if (!latest) return latest.error();
    if (!*latest) {
      return make_error("code_required", fmt::format("function '{}' has no code yet: upload it first with PUT "
                                                     "/api/v1/functions/{}/code and pass the returned digest as 'code' "
                                                     "(fnctl deploy does both)", name, name), 422);
    }
    spec.code = (*latest)->spec.code;
  }
  if (!code_.contains(spec.code)) {
    return make_error("code_not_found", fmt::format("spec field 'code': no uploaded code with digest {}; upload it with PUT "
                                                    "/api/v1/functions/{}/code", spec.code, name), 422);
  }
  const bool existed = directory_.find(name) != nullptr || !directory_.damage(name).empty();
  auto put = repository_.put_revision(spec, precondition);
  if (!put) return put.error();
  if (!put->created) return DeployResult{directory_.find(name), false};
  directory_.publish(put->revision);
  auto live = directory_.find(name);
  serve(name);
  spdlog::info("function {} revision {} deployed", name, live->number);
  announce({existed ? DeploymentChange::updated : DeploymentChange::deployed, name, live});
  return DeployResult{live, true};
}

Result<DeployResult> Deployments::roll(const std::string& name) {
  auto live = directory_.find(name);
  if (!live) return directory_.unavailable(name);
  store::RevisionPrecondition precondition;
  precondition.latest_is = live->number;  // a deploy that came in between has rolled it already
  precondition.even_if_unchanged = true;
  return deploy(live->spec, precondition);
}

std::vector<std::string> Deployments::users_of_secret(std::string_view secret) const {
  std::vector<std::string> users;
  for (const auto& name : directory_.names()) {
    auto live = directory_.find(name);
    if (live && std::find(live->spec.secrets.begin(), live->spec.secrets.end(), secret) != live->spec.secrets.end()) {
      users.push_back(name);
    }
  }
  return users;
}

asio::awaitable<Result<size_t>> Deployments::remove(const std::string& name) {
  auto record = repository_.find(name);
  if (!record) co_return record.error();
  if (!*record) co_return directory_.not_found(name);
  if (deleting_.contains(name)) co_return being_deleted_error(name);
  // Requests in flight may finish within the function's own timeout.
  std::chrono::milliseconds drain{0};
  if (auto live = directory_.find(name)) drain = live->spec.timeout;
  const SystemTime delete_started = std::chrono::system_clock::now();
  deleting_.insert(name);
  directory_.remove(name);  // new invocations get 404 from here on
  size_t stopped = co_await lifecycle_.stop_function(name, drain);
  auto code = repository_.code_of(name);
  auto removed = repository_.remove(name);
  if (!removed && removed.error().code == store::kInsufficientStorage && reserve_.release()) {
    // A full disk must not keep the one operation that frees space from working.
    removed = repository_.remove(name);
  }
  deleting_.erase(name);
  if (!removed) co_return removed.error();
  logs_.remove(name);
  spdlog::info("function {} deleted ({} instances stopped)", name, stopped);
  announce({DeploymentChange::deleted, name, nullptr});
  // Its code goes too, unless another revision uses it or it was uploaded again meanwhile.
  if (code) co_await collect_code(delete_started, std::move(*code));
  co_return stopped;
}

asio::awaitable<void> Deployments::collect_code(SystemTime stored_before, std::optional<std::set<std::string>> only) {
  // `only` by reference: this frame outlives the awaited work (GCC 12 mishandles a move-capture
  // of a coroutine parameter: it destroyed the set twice).
  co_await asio::co_spawn(blocking_executor_, [this, stored_before, &only]() -> asio::awaitable<void> {
    auto referenced = repository_.referenced_code();
    if (!referenced) {
      spdlog::warn("code garbage collection skipped: {}", referenced.error().message);
      co_return;
    }
    code_.collect_garbage(*referenced, stored_before, only);
  }, asio::use_awaitable);
  reserve_.restore();
}

void Deployments::start_code_collection(std::chrono::milliseconds interval, std::chrono::milliseconds grace) {
  asio::co_spawn(timer_.get_executor(), [this, interval, grace]() -> asio::awaitable<void> {
    while (true) {
      co_await collect_code(std::chrono::system_clock::now() - grace, std::nullopt);
      timer_.expires_after(interval);
      auto [ec] = co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
    }
  }, asio::detached);
}

void Deployments::stop() { timer_.cancel(); }

}  // namespace fnd::scheduler
