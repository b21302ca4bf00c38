#include "scheduler/traffic_split.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <set>
#include <utility>

#include "core/names.hpp"

namespace fnd::scheduler {

namespace {

Error invalid(std::string message) { return make_error(std::string(kInvalidTraffic), std::move(message), 422); }

// "r<digits>": reserved for naming revisions, so no tag may look like it.
bool looks_like_revision_tag(std::string_view tag) {
  return tag.size() >= 2 && tag.front() == 'r' &&
         std::all_of(tag.begin() + 1, tag.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// "12" -> 12; no sign, no leading zero, not 0 (revisions count from 1).
std::optional<uint32_t> revision_number(std::string_view digits) {
  if (digits.empty() || digits.front() == '0') return std::nullopt;
  uint32_t n = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (ec != std::errc{} || end != digits.data() + digits.size()) return std::nullopt;
  return n;
}

// "r12" or "12" -> 12. Only the canonical spelling (no leading zero) resolves, so that one
// revision has one name.
std::optional<uint32_t> revision_tag(std::string_view tag) {
  if (looks_like_revision_tag(tag)) return revision_number(tag.substr(1));
  return revision_number(tag);
}

std::string list_revisions(std::span<const uint32_t> revisions) {
  if (revisions.empty()) return "none";
  std::vector<uint32_t> sorted(revisions.begin(), revisions.end());
  std::sort(sorted.begin(), sorted.end());
  return fmt::format("{}", fmt::join(sorted, ", "));
}

}  // namespace

TrafficSplit::TrafficSplit(TrafficSpec spec) : spec_(std::move(spec)) {
  size_t slot = 0;
  for (const auto& w : spec_.weights) {
    for (int i = 0; i < w.percent; ++i) by_percent_[slot++] = w.revision;
  }
}

std::optional<uint32_t> parse_revision_name(std::string_view name) { return revision_tag(name); }

Result<TrafficSplit> TrafficSplit::create(std::string_view function, TrafficSpec spec,
                                          std::span<const uint32_t> revisions) {
  auto exists = [&](uint32_t r) { return std::find(revisions.begin(), revisions.end(), r) != revisions.end(); };
  std::set<uint32_t> seen_revisions;
  int sum = 0;
  for (const auto& w : spec.weights) {
    if (w.percent < 0 || w.percent > 100) {
      return invalid(fmt::format("traffic of function '{}' gives revision {} {} percent; a percent is from 0 to 100",
                                 function, w.revision, w.percent));
    }
    if (!seen_revisions.insert(w.revision).second) {
      return invalid(
          fmt::format("traffic of function '{}' lists revision {} twice; list it once with the sum of "
                      "its percents",
                      function, w.revision));
    }
    if (!exists(w.revision)) {
      return invalid(
          fmt::format("traffic of function '{}' names revision {}, which does not exist; its revisions "
                      "are: {}",
                      function, w.revision, list_revisions(revisions)));
    }
    sum += w.percent;
  }
  if (!spec.weights.empty() && sum != 100) {
    return invalid(
        fmt::format("traffic percents of function '{}' add up to {}, not 100; change them so that they "
                    "sum to 100",
                    function, sum));
  }
  std::set<std::string_view> seen_tags;
  for (const auto& t : spec.tags) {
    if (auto ok = validate_name("tag", t.name); !ok) {
      return invalid(fmt::format("traffic of function '{}': {}", function, ok.error().message));
    }
    if (looks_like_revision_tag(t.name)) {
      return invalid(
          fmt::format("traffic of function '{}' has a tag '{}', but 'r<number>' always names that "
                      "revision; choose another name",
                      function, t.name));
    }
    if (!seen_tags.insert(t.name).second) {
      return invalid(
          fmt::format("traffic of function '{}' uses tag '{}' twice; a tag names one revision", function, t.name));
    }
    if (!exists(t.revision)) {
      return invalid(
          fmt::format("tag '{}' of function '{}' names revision {}, which does not exist; its revisions "
                      "are: {}",
                      t.name, function, t.revision, list_revisions(revisions)));
    }
  }
  return TrafficSplit(std::move(spec));
}

TrafficSplit TrafficSplit::single(uint32_t revision) { return TrafficSplit(TrafficSpec{{{revision, 100}}, {}}); }

std::vector<uint32_t> TrafficSplit::named_revisions() const {
  std::set<uint32_t> named;
  for (const auto& w : spec_.weights) named.insert(w.revision);
  for (const auto& t : spec_.tags) named.insert(t.revision);
  return {named.begin(), named.end()};
}

uint32_t TrafficSplit::pick(std::mt19937_64& random) const {
  return by_percent_[std::uniform_int_distribution<size_t>(0, by_percent_.size() - 1)(random)];
}

std::optional<uint32_t> TrafficSplit::resolve_tag(std::string_view tag) const {
  if (auto n = revision_tag(tag)) return n;
  for (const auto& t : spec_.tags) {
    if (t.name == tag) return t.revision;
  }
  return std::nullopt;
}

namespace {

namespace json = boost::json;

Result<uint32_t> revision_of(const json::value& value, std::string_view where) {
  std::optional<uint32_t> n;
  if (value.is_int64() && value.get_int64() > 0 && value.get_int64() <= UINT32_MAX) {
    n = static_cast<uint32_t>(value.get_int64());
  } else if (value.is_uint64() && value.get_uint64() > 0 && value.get_uint64() <= UINT32_MAX) {
    n = static_cast<uint32_t>(value.get_uint64());
  } else if (value.is_string()) {
    n = revision_tag(value.get_string());
  }
  if (!n)
    return invalid(fmt::format("traffic field '{}': {} is not a revision; write it 4, \"4\" or \"r4\"", where,
                               json::serialize(value)));
  return *n;
}

}  // namespace

Result<TrafficSpec> traffic_from_json(const json::value& value) {
  const json::object* body = value.if_object();
  if (!body)
    return invalid(
        "traffic must be a JSON object such as {\"split\": {\"3\": 90, \"4\": 10}, \"tags\": {\"canary\": 4}}");
  TrafficSpec spec;
  for (const auto& field : *body) {
    if (field.key() != "split" && field.key() != "tags") {
      return invalid(
          fmt::format("traffic has an unknown field '{}'; it takes 'split' and 'tags'", std::string_view(field.key())));
    }
  }
  if (const json::value* split = body->if_contains("split"); split && !split->is_null()) {
    const json::object* weights = split->if_object();
    if (!weights) return invalid("traffic field 'split' must map revisions to percents, e.g. {\"3\": 90, \"4\": 10}");
    for (const auto& [key, percent] : *weights) {
      auto revision = revision_tag(key);
      if (!revision) {
        return invalid(fmt::format("traffic field 'split': '{}' is not a revision; write it \"4\" or \"r4\"",
                                   std::string_view(key)));
      }
      if (!percent.is_int64() && !percent.is_uint64()) {
        return invalid(fmt::format("traffic field 'split.{}': {} is not a whole percent", std::string_view(key),
                                   json::serialize(percent)));
      }
      int64_t p = percent.is_int64() ? percent.get_int64()
                                     : static_cast<int64_t>(std::min<uint64_t>(percent.get_uint64(), 1000));
      spec.weights.push_back({*revision, static_cast<int>(std::clamp<int64_t>(p, -1000, 1000))});
    }
  }
  if (const json::value* tags = body->if_contains("tags"); tags && !tags->is_null()) {
    const json::object* names = tags->if_object();
    if (!names) return invalid("traffic field 'tags' must map tag names to revisions, e.g. {\"canary\": 4}");
    for (const auto& [name, target] : *names) {
      auto revision = revision_of(target, fmt::format("tags.{}", std::string_view(name)));
      if (!revision) return revision.error();
      spec.tags.push_back({std::string(name), *revision});
    }
  }
  return spec;
}

json::object traffic_to_json(const TrafficSpec& spec) {
  json::object out;
  if (spec.weights.empty()) {
    out["split"] = nullptr;
  } else {
    json::object weights;
    for (const auto& w : spec.weights) weights[std::to_string(w.revision)] = w.percent;
    out["split"] = std::move(weights);
  }
  json::object tags;
  for (const auto& t : spec.tags) tags[t.name] = t.revision;
  out["tags"] = std::move(tags);
  return out;
}

}  // namespace fnd::scheduler
