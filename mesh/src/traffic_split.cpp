#include "mesh/traffic_split.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <charconv>
#include <set>
#include <utility>

#include "core/names.hpp"

namespace fnd::mesh {

namespace {

Error invalid(std::string message) { return make_error(std::string(kInvalidTraffic), std::move(message), 422); }

// "r<digits>": reserved for naming revisions, so no tag may look like it.
bool looks_like_revision_tag(std::string_view tag) {
  return tag.size() >= 2 && tag.front() == 'r' &&
         std::all_of(tag.begin() + 1, tag.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// "r12" -> 12. Only the canonical spelling (no leading zero) resolves, so that one revision has
// one name.
std::optional<uint32_t> revision_tag(std::string_view tag) {
  if (!looks_like_revision_tag(tag) || tag[1] == '0') return std::nullopt;
  uint32_t n = 0;
  auto [end, ec] = std::from_chars(tag.data() + 1, tag.data() + tag.size(), n);
  if (ec != std::errc{} || end != tag.data() + tag.size()) return std::nullopt;
  return n;
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

Result<TrafficSplit> TrafficSplit::create(std::string_view function, TrafficSpec spec,
                                          std::span<const uint32_t> revisions) {
  auto exists = [&](uint32_t r) { return std::find(revisions.begin(), revisions.end(), r) != revisions.end(); };
  if (spec.weights.empty()) {
    return invalid(
        fmt::format("traffic of function '{}' lists no revision; give at least one revision 100 percent", function));
  }
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
  if (sum != 100) {
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

}  // namespace fnd::mesh
