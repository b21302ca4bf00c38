// Counters and histograms for GET /metrics (Prometheus text format 0.0.4). Updates are relaxed
// atomic adds: no lock and no allocation on the invocation path; a scrape reads whatever the
// counters hold at that moment.
//
// Thread safe: any thread may update; registering a new function (once per name) and rendering
// take the registry's mutex, never held by an update.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

namespace fnd {

class Counter {
 public:
  void add(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// Latencies in fixed buckets from 100 µs to 60 s.
class Histogram {
 public:
  static constexpr std::array<double, 16> kBounds{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                  0.05,   0.1,     0.25,   0.5,   1,      2.5,   10,   60};
  void observe(std::chrono::nanoseconds duration);
  // Appends the _bucket, _sum and _count lines with `labels` ("function=\"x\"").
  void render(std::string& out, std::string_view name, std::string_view labels) const;

 private:
  std::array<std::atomic<uint64_t>, kBounds.size() + 1> counts_{};  // the last one is +Inf
  std::atomic<uint64_t> sum_ns_{0};
};

// What fnd counts per function.
struct FunctionMetrics {
  std::array<Counter, 6> answers;  // by status class: [0] = none sent, [1..5] = 1xx..5xx
  Histogram duration;              // request received -> answer sent
  std::array<Counter, 3> cold_starts;  // by origin: container, stem cell, pre-created (runtime::InstanceOrigin)
  Histogram cold_start_duration;   // instance asked for -> ready

  void answered(unsigned status, std::chrono::nanoseconds duration);
};

class MetricsRegistry {
 public:
  // The function's metrics, created on first use; the reference stays valid for the
  // registry's life (a deleted function's counters are kept: counters never go back).
  FunctionMetrics& function(std::string_view name);
  // Adds lines computed at scrape time (gauges such as instances or stem cells).
  void add_collector(std::function<void(std::string&)> collector);
  std::string render() const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::unique_ptr<FunctionMetrics>, std::less<>> functions_;
  std::vector<std::function<void(std::string&)>> collectors_;
};

// `"` `\` and newlines escaped for a Prometheus label value.
std::string escape_label(std::string_view value);

}  // namespace fnd
