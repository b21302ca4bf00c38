#include "gateway/audit_trail.hpp"

#include <boost/asio/post.hpp>
#include <chrono>
#include <spdlog/spdlog.h>

namespace fnd::gateway {

void AuditTrail::record(const Principal& who, std::string action, std::string target, const Status& result,
                        std::string detail) {
  store::AuditEntry entry{std::chrono::system_clock::now(),
                          who.name.empty() ? std::string("anonymous") : who.name,
                          std::move(action),
                          std::move(target),
                          result ? std::string("ok") : result.error().code,
                          std::move(detail)};
  boost::asio::post(blocking_executor_, [this, entry = std::move(entry)] {
    if (auto written = log_.append(entry); !written) {
      spdlog::warn("audit log: could not record {} {} by {}: {}", entry.action, entry.target, entry.actor,
                   written.error().message);
    }
  });
}

}  // namespace fnd::gateway
