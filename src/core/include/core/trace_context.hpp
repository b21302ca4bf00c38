// W3C Trace Context (https://www.w3.org/TR/trace-context/): the `traceparent` field,
// "00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>". Every hop fnd makes (the gateway, each
// mesh call, each event delivery) is a span of its own: it keeps the caller's trace id and flags
// (or starts a trace when the caller sent none, or an invalid one) and gives the next hop a new
// parent id, its own span id.
//
// Pure values: parse() and format() allocate nothing; safe from any thread.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <random>
#include <string_view>

namespace fnd {

// The field's name, and the CloudEvents distributed tracing extension attribute's.
inline constexpr std::string_view kTraceParent = "traceparent";

class TraceContext {
 public:
  static constexpr size_t kFieldSize = 55;  // "00-" 32 "-" 16 "-" 2

  // A valid traceparent (lower-case hex, a trace id and a parent id not all zeros, version not
  // ff; a future version may carry more after the flags); nullopt otherwise.
  static std::optional<TraceContext> parse(std::string_view field);
  // A new trace, sampled, with a random trace id and span id.
  static TraceContext start(std::mt19937_64& random);
  // This hop's span in the trace `incoming` carries, or a new trace when there is none.
  static TraceContext hop(std::optional<TraceContext> incoming, std::mt19937_64& random);

  // The same trace and flags with a new random span id: what the next hop receives as parent.
  TraceContext child(std::mt19937_64& random) const;

  // The version-00 field; a view into this object.
  std::string_view field() const { return {text_.data(), text_.size()}; }
  std::string_view trace_id() const { return field().substr(3, 32); }
  std::string_view span_id() const { return field().substr(36, 16); }

 private:
  TraceContext() = default;
  std::array<char, kFieldSize> text_{};
};

}  // namespace fnd
