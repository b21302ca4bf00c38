#include "scheduler/function_directory.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json.hpp>
#include <utility>

#include "core/json.hpp"
#include "core/names.hpp"

namespace fnd::scheduler {

const FunctionDirectory::Entry* FunctionDirectory::entry(std::string_view name) const {
  auto it = live_.find(name);
  return it == live_.end() ? nullptr : &it->second;
}

std::shared_ptr<const store::Revision> FunctionDirectory::find(std::string_view name) const {
  const Entry* e = entry(name);
  return e ? e->latest : nullptr;
}

std::shared_ptr<const store::Revision> FunctionDirectory::revision_of(const Entry& entry, uint32_t number) const {
  if (entry.latest->number == number) return entry.latest;
  auto it = entry.named.find(number);
  return it == entry.named.end() ? nullptr : it->second;
}

Result<std::shared_ptr<const store::Revision>> FunctionDirectory::route(std::string_view name,
                                                                        std::string_view selector,
                                                                        std::mt19937_64& random) const {
  const Entry* e = entry(name);
  if (!e) return unavailable(name);
  if (selector.empty()) {
    if (!e->traffic || e->traffic->follows_latest()) return e->latest;
    if (auto revision = revision_of(*e, e->traffic->pick(random))) return revision;
    return e->latest;  // cannot happen: set_traffic() holds every revision the split names
  }
  std::optional<uint32_t> number = e->traffic ? e->traffic->resolve_tag(selector) : parse_revision_name(selector);
  if (number) {
    if (auto revision = revision_of(*e, *number)) return revision;
  }
  return revision_not_found(name, *e, selector);
}

Error FunctionDirectory::revision_not_found(std::string_view name, const Entry& entry,
                                            std::string_view selector) const {
  std::vector<std::string> served;
  for (uint32_t number : served_revisions(name)) served.push_back(fmt::format("r{}", number));
  std::vector<std::string> tags;
  if (entry.traffic) {
    for (const auto& tag : entry.traffic->spec().tags) tags.push_back(fmt::format("{} (r{})", tag.name, tag.revision));
  }
  return make_error(std::string(kRevisionNotFound),
                    fmt::format("function '{}' serves no revision '{}': it serves {}{}{}. Name a revision in its split "
                                "or give it a tag (fnctl traffic tag {} rN NAME) to call it",
                                name, selector, fmt::join(served, ", "), tags.empty() ? "" : "; its tags are ",
                                fmt::join(tags, ", "), name),
                    404);
}

void FunctionDirectory::publish(store::Revision revision) {
  std::string name = revision.function;
  if (!revision.damage.empty()) {
    live_.erase(name);
    broken_[name] = std::move(revision.damage);
    return;
  }
  broken_.erase(name);
  live_[name].latest = std::make_shared<const store::Revision>(std::move(revision));
}

void FunctionDirectory::set_traffic(std::string_view name, TrafficSplit split,
                                    std::vector<std::shared_ptr<const store::Revision>> named) {
  auto it = live_.find(name);
  if (it == live_.end()) return;
  Entry& e = it->second;
  e.named.clear();
  for (auto& revision : named) e.named[revision->number] = std::move(revision);
  if (split.spec().weights.empty() && split.spec().tags.empty())
    e.traffic.reset();
  else
    e.traffic = std::move(split);
}

const TrafficSplit* FunctionDirectory::traffic(std::string_view name) const {
  const Entry* e = entry(name);
  return e && e->traffic ? &*e->traffic : nullptr;
}

std::vector<uint32_t> FunctionDirectory::served_revisions(std::string_view name) const {
  const Entry* e = entry(name);
  if (!e) return {};
  std::vector<uint32_t> out{e->latest->number};
  for (const auto& [number, revision] : e->named) {
    if (number != e->latest->number) out.push_back(number);
  }
  std::sort(out.begin(), out.end());
  return out;
}

void FunctionDirectory::remove(std::string_view name) {
  if (auto it = live_.find(name); it != live_.end()) live_.erase(it);
  if (auto it = broken_.find(name); it != broken_.end()) broken_.erase(it);
}

std::vector<std::string> FunctionDirectory::names() const {
  std::vector<std::string> out;
  for (const auto& [name, e] : live_) out.push_back(name);
  for (const auto& [name, damage] : broken_) out.push_back(name);
  return out;
}

namespace {

// The stored traffic of `fn` and the revisions it names; nullopt (logged) when it cannot be used,
// and the function then follows its latest revision.
std::optional<std::pair<TrafficSplit, std::vector<std::shared_ptr<const store::Revision>>>> stored_traffic(
    store::FunctionRepository& repository, const store::FunctionRecord& fn) {
  auto unusable = [&](const std::string& why) {
    spdlog::error(
        "function '{}': its stored traffic cannot be used ({}); every call goes to its latest revision "
        "until the traffic is set again (fnctl traffic set)",
        fn.name, why);
    return std::nullopt;
  };
  auto parsed = parse_json(fn.traffic);
  if (!parsed) return unusable(parsed.error().message);
  auto spec = traffic_from_json(*parsed);
  if (!spec) return unusable(spec.error().message);
  auto revisions = repository.revisions(fn.name);
  if (!revisions) return unusable(revisions.error().message);
  std::vector<uint32_t> numbers;
  for (const auto& revision : *revisions) numbers.push_back(revision.number);
  auto split = TrafficSplit::create(fn.name, *spec, numbers);
  if (!split) return unusable(split.error().message);
  std::vector<std::shared_ptr<const store::Revision>> named;
  for (uint32_t number : split->named_revisions()) {
    auto it = std::find_if(revisions->begin(), revisions->end(), [&](const auto& r) { return r.number == number; });
    if (!it->damage.empty()) return unusable(it->damage);
    named.push_back(std::make_shared<const store::Revision>(std::move(*it)));
  }
  return std::make_pair(std::move(*split), std::move(named));
}

}  // namespace

Status FunctionDirectory::load(store::FunctionRepository& repository) {
  auto functions = repository.list();
  if (!functions) return functions.error();
  for (const auto& fn : *functions) {
    auto latest = repository.latest_revision(fn.name);
    if (!latest) return latest.error();
    if (!*latest) continue;
    if (!(*latest)->damage.empty()) {
      spdlog::error("function '{}' cannot be served: {}. Deploy it again or delete it; the other functions are served",
                    fn.name, (*latest)->damage);
    }
    publish(std::move(**latest));
    if (fn.traffic.empty() || !find(fn.name)) continue;
    if (auto traffic = stored_traffic(repository, fn))
      set_traffic(fn.name, std::move(traffic->first), std::move(traffic->second));
  }
  return {};
}

std::string FunctionDirectory::damage(std::string_view name) const {
  auto it = broken_.find(name);
  return it == broken_.end() ? std::string() : it->second;
}

Error FunctionDirectory::unavailable(std::string_view name) const {
  if (auto it = broken_.find(name); it != broken_.end()) {
    return make_error("function_broken",
                      fmt::format("function '{}' cannot be served: {}. Deploy it again (fnctl deploy) "
                                  "or delete it",
                                  name, it->second),
                      500);
  }
  return not_found(name);
}

Error FunctionDirectory::not_found(std::string_view name) const {
  auto candidates = names();
  auto suggestion = closest_name(name, candidates);
  std::string message = fmt::format("no function named '{}'", name);
  if (suggestion)
    message += fmt::format("; did you mean '{}'?", *suggestion);
  else
    message += "; deploy it with fnctl deploy, or list functions with fnctl list";
  return make_error("function_not_found", std::move(message), 404);
}

}  // namespace fnd::scheduler
