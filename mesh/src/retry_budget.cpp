#include "mesh/retry_budget.hpp"

#include <algorithm>
#include <cassert>

namespace fnd::mesh {

namespace {
int64_t buckets_for(std::chrono::milliseconds span) {
  auto width = RetryBudget::kBucketWidth.count();
  return std::max<int64_t>(1, (span.count() + width - 1) / width);
}
}  // namespace

RetryBudget::RetryBudget(RetryBudgetSettings settings, const Clock& clock)
    : settings_(settings),
      clock_(clock),
      window_buckets_(buckets_for(settings.window)),
      second_buckets_(buckets_for(std::chrono::seconds(1))) {
  assert(settings_.ratio >= 0 && settings_.min_per_second >= 0);
  assert(settings_.window >= kBucketWidth);
  ring_.resize(static_cast<size_t>(std::max(window_buckets_, second_buckets_)));
}

int64_t RetryBudget::current_index() const {
  auto since_epoch = std::chrono::duration_cast<std::chrono::milliseconds>(clock_.now().time_since_epoch());
  // Floor division: a steady clock's epoch is unspecified, so be right for negative values too.
  auto width = kBucketWidth.count();
  auto q = since_epoch.count() / width;
  if (since_epoch.count() % width < 0) --q;
  return q;
}

RetryBudget::Bucket& RetryBudget::current_bucket() {
  int64_t index = current_index();
  auto size = static_cast<int64_t>(ring_.size());
  Bucket& b = ring_[static_cast<size_t>(((index % size) + size) % size)];
  if (b.index != index) b = Bucket{index, 0, 0};
  return b;
}

RetryBudget::Bucket RetryBudget::sum_last(int64_t now_index, int64_t count) const {
  Bucket sum;
  for (const auto& b : ring_) {
    if (b.index <= now_index && b.index > now_index - count) {
      sum.requests += b.requests;
      sum.retries += b.retries;
    }
  }
  return sum;
}

void RetryBudget::record_request() { ++current_bucket().requests; }

bool RetryBudget::try_spend_retry() {
  int64_t now_index = current_index();
  Bucket window = sum_last(now_index, window_buckets_);
  Bucket second = sum_last(now_index, second_buckets_);
  bool by_ratio =
      static_cast<double>(window.retries) + 1 <= settings_.ratio * static_cast<double>(window.requests) + 1e-9;
  bool by_floor = static_cast<double>(second.retries) + 1 <= settings_.min_per_second + 1e-9;
  if (!by_ratio && !by_floor) {
    ++retries_refused_total_;
    return false;
  }
  ++current_bucket().retries;
  ++retries_allowed_total_;
  return true;
}

uint64_t RetryBudget::requests_in_window() const { return sum_last(current_index(), window_buckets_).requests; }

uint64_t RetryBudget::retries_in_window() const { return sum_last(current_index(), window_buckets_).retries; }

}  // namespace fnd::mesh
