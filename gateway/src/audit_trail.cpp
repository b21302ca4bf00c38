#include "gateway/audit_trail.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <chrono>

namespace fnd::gateway {

namespace {
constexpr auto kPruneInterval = std::chrono::hours(1);
}

AuditTrail::AuditTrail(store::AuditLog& log, boost::asio::any_io_executor blocking_executor,
                       std::chrono::milliseconds retention)
    : log_(log), blocking_executor_(std::move(blocking_executor)), retention_(retention) {
  prune_on_blocking_executor();
}

void AuditTrail::prune_on_blocking_executor() {
  last_prune_ = std::chrono::system_clock::now();
  boost::asio::post(blocking_executor_, [this, older_than = last_prune_ - retention_] {
    auto pruned = log_.prune(older_than);
    if (!pruned) {
      spdlog::warn("audit log: could not remove entries past audit.retention: {}", pruned.error().message);
    } else if (*pruned > 0) {
      spdlog::info("audit log: removed {} entries older than audit.retention", *pruned);
    }
  });
}

void AuditTrail::record(const Principal& who, std::string action, std::string target, const Status& result,
                        std::string detail) {
  store::AuditEntry entry{std::chrono::system_clock::now(),
                          who.name.empty() ? std::string("anonymous") : who.name,
                          std::move(action),
                          std::move(target),
                          result ? std::string("ok") : result.error().code,
                          std::move(detail)};
  if (entry.time - last_prune_ >= kPruneInterval) prune_on_blocking_executor();
  boost::asio::post(blocking_executor_, [this, entry = std::move(entry)] {
    if (auto written = log_.append(entry); !written) {
      spdlog::warn("audit log: could not record {} {} by {}: {}", entry.action, entry.target, entry.actor,
                   written.error().message);
    }
  });
}

}  // namespace fnd::gateway
