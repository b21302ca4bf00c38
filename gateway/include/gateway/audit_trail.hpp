// Records each mutating management call in the store's audit log (who, what, on what, how it
// ended) without making the caller wait: the write runs on the blocking executor, and a failure to
// write is logged, never turned into a failure of the call itself.
//
// record() is safe from the io thread only; the AuditLog must outlive every write it started.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <string>

#include "core/error.hpp"
#include "core/time.hpp"
#include "gateway/access_control.hpp"
#include "store/audit_log.hpp"

namespace fnd::gateway {

class AuditTrail {
 public:
  // Entries older than `retention` are removed now and, while entries are written, at most hourly.
  AuditTrail(store::AuditLog& log, boost::asio::any_io_executor blocking_executor, std::chrono::milliseconds retention);

  // `action` is "function.deploy", "token.create", ...; `result` ok or the call's error (its code
  // is recorded); `detail` is for people and never holds a secret.
  void record(const Principal& who, std::string action, std::string target, const Status& result,
              std::string detail = {});

 private:
  void prune_on_blocking_executor();

  store::AuditLog& log_;
  boost::asio::any_io_executor blocking_executor_;
  std::chrono::milliseconds retention_;
  // When the last prune was started; touched by the io thread only (record's caller).
  SystemTime last_prune_{};
};

}  // namespace fnd::gateway
