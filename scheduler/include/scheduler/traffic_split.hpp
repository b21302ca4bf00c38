// How a function's calls are split across its revisions (Knative's traffic block): weights in
// whole percent that sum to 100, plus tags that name a revision so that it can be called
// directly ("canary" -> revision 4) whatever its weight, e.g. to test a revision at 0 % before
// moving traffic to it. "r<N>" (and "N") always names revision N and needs no tag. No weights at
// all: every call goes to the latest revision, whichever it is (a new deploy takes all traffic);
// tags still apply.
//
// A TrafficSplit is checked once when built (create()) and immutable after: pick() and
// resolve_tag() are const and safe to call from any thread at once. No clock, no I/O.
#pragma once

#include <array>
#include <boost/json/fwd.hpp>
#include <cstdint>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace fnd::scheduler {

// Error code of create(): 422, the message says which entry is wrong and how to mend it.
inline constexpr std::string_view kInvalidTraffic = "invalid_traffic";
inline bool is_invalid_traffic(const Error& e) { return e.code == kInvalidTraffic; }

struct TrafficWeight {
  uint32_t revision = 0;
  int percent = 0;  // 0..100; signed so that a negative value from the API is reported, not wrapped

  bool operator==(const TrafficWeight&) const = default;
};

struct TrafficTag {
  std::string name;  // a DNS label, not of the form "r<digits>" (those name revisions already)
  uint32_t revision = 0;

  bool operator==(const TrafficTag&) const = default;
};

struct TrafficSpec {
  std::vector<TrafficWeight> weights;  // empty: all calls to the latest revision
  std::vector<TrafficTag> tags;

  bool operator==(const TrafficSpec&) const = default;
};

// The JSON form of the API and of the store: {"split": {"3": 90, "4": 10}, "tags": {"canary": 4}}.
// "split" absent, null or {} = the latest revision takes every call; revisions may be written "3"
// or "r3", tag targets 4, "4" or "r4". Errors: 422 invalid_traffic naming the wrong field.
// "r4" or "4" -> 4 (no leading zero, not 0); nullopt for anything else.
std::optional<uint32_t> parse_revision_name(std::string_view name);

Result<TrafficSpec> traffic_from_json(const boost::json::value& json);
boost::json::object traffic_to_json(const TrafficSpec& spec);

class TrafficSplit {
 public:
  // Checks `spec` against the function's existing revision numbers. Errors (422
  // invalid_traffic): a percent below 0 or above 100, weights not summing to 100, a
  // revision listed twice in the weights, a tag used twice or not a valid name, an unknown
  // revision in a weight or a tag. `function` only names the function in messages.
  static Result<TrafficSplit> create(std::string_view function, TrafficSpec spec, std::span<const uint32_t> revisions);
  // Every call to `revision` (the usual case: the latest one).
  static TrafficSplit single(uint32_t revision);

  // True when the spec has no weights: every call goes to the latest revision.
  bool follows_latest() const { return spec_.weights.empty(); }
  // The revision for one call, drawn by weight. Only when !follows_latest().
  uint32_t pick(std::mt19937_64& random) const;
  // The revision a tag names: a tag of the spec, or "r<N>" or "N" for revision N (whether N still
  // exists is for the caller to check: it may have been deleted since). nullopt: no such tag.
  std::optional<uint32_t> resolve_tag(std::string_view tag) const;
  // Every revision named by a weight (even 0 %) or a tag, sorted, each once.
  std::vector<uint32_t> named_revisions() const;

  const TrafficSpec& spec() const { return spec_; }

 private:
  explicit TrafficSplit(TrafficSpec spec);

  TrafficSpec spec_;
  std::array<uint32_t, 100> by_percent_{};  // revision for each of the 100 percent slots
};

}  // namespace fnd::scheduler
