// A retry budget for the calls to one target, as Linkerd and Finagle keep one: retries may add
// at most `ratio` of the requests seen in a sliding `window`, so that a failing target is not
// hit with a multiple of its normal load (a retry storm). Below that, a floor of
// `min_per_second` retries in any second lets a target with little traffic still retry.
//
// A retry may go when the retries in the window stay under ratio x requests in the window, or
// the retries in the last second stay under min_per_second. Counts are kept in buckets of
// kBucketWidth, so the window slides by that step and memory does not grow with traffic.
//
// Pure logic over an injected clock (no I/O, no sleeps in tests). Not thread safe: the owner
// serializes calls (one budget per target, used from that target's strand).
#pragma once

#include <chrono>
#include <cstdint>
#include <limits>
#include <vector>

#include "core/time.hpp"

namespace fnd::mesh {

struct RetryBudgetSettings {
  double ratio = 0.2;                                           // retries per request in the window; >= 0
  std::chrono::milliseconds window = std::chrono::seconds(10);  // >= kBucketWidth
  double min_per_second = 3;                                    // >= 0; the floor that lets low traffic retry
};

class RetryBudget {
 public:
  static constexpr std::chrono::milliseconds kBucketWidth{100};

  // `clock` is borrowed and must outlive the budget. Invalid settings (a negative ratio or floor,
  // a window shorter than one bucket) are a bug of the caller: asserted.
  RetryBudget(RetryBudgetSettings settings, const Clock& clock);

  // One original request to the target (not a retry: retries do not earn retries).
  void record_request();
  // True when a retry may go now; it is then counted against the budget. False: do not retry,
  // answer with the error the last attempt got.
  bool try_spend_retry();

  // The counts in the window now, for describe and tests.
  uint64_t requests_in_window() const;
  uint64_t retries_in_window() const;
  // Totals since construction, for /metrics.
  uint64_t retries_allowed_total() const { return retries_allowed_total_; }
  uint64_t retries_refused_total() const { return retries_refused_total_; }

  const RetryBudgetSettings& settings() const { return settings_; }

 private:
  struct Bucket {
    int64_t index = std::numeric_limits<int64_t>::min();  // the kBucketWidth slice of time counted here
    uint64_t requests = 0;
    uint64_t retries = 0;
  };
  int64_t current_index() const;
  Bucket& current_bucket();
  // Sums the buckets of the last `count` slices up to and including `now_index`.
  Bucket sum_last(int64_t now_index, int64_t count) const;

  RetryBudgetSettings settings_;
  const Clock& clock_;
  int64_t window_buckets_;
  int64_t second_buckets_;
  std::vector<Bucket> ring_;  // fixed size: the window or one second, whichever is longer
  uint64_t retries_allowed_total_ = 0;
  uint64_t retries_refused_total_ = 0;
};

}  // namespace fnd::mesh
