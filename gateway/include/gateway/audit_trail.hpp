// Records each mutating management call in the store's audit log (who, what, on what, how it
// ended) without making the caller wait: the write runs on the blocking executor, and a failure to
// write is logged, never turned into a failure of the call itself.
//
// record() is safe from the io thread only; the AuditLog must outlive every write it started.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <string>

#include "core/error.hpp"
#include "gateway/access_control.hpp"
#include "store/audit_log.hpp"

namespace fnd::gateway {

class AuditTrail {
 public:
  AuditTrail(store::AuditLog& log, boost::asio::any_io_executor blocking_executor)
      : log_(log), blocking_executor_(std::move(blocking_executor)) {}

  // `action` is "function.deploy", "token.create", ...; `result` ok or the call's error (its code
  // is recorded); `detail` is for people and never holds a secret.
  void record(const Principal& who, std::string action, std::string target, const Status& result,
              std::string detail = {});

 private:
  store::AuditLog& log_;
  boost::asio::any_io_executor blocking_executor_;
};

}  // namespace fnd::gateway
