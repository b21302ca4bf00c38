// A write transaction that rolls back unless committed, private to the store module.
#pragma once

#include <utility>

#include "connection.hpp"
#include "core/error.hpp"

namespace fnd::store::internal {

// BEGIN IMMEDIATE takes the write lock at once: what is read inside cannot change before the
// write. The caller holds the connection's mutex for the transaction's whole life.
class Transaction {
 public:
  static Result<Transaction> begin(Connection& conn) {
    if (Status st = conn.exec("BEGIN IMMEDIATE;"); !st) return st.error();
    return Transaction(conn);
  }
  Transaction(Transaction&& other) noexcept : conn_(std::exchange(other.conn_, nullptr)) {}
  Transaction& operator=(Transaction&&) = delete;
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction() {
    if (conn_) (void)conn_->exec("ROLLBACK;");
  }

  Status commit() {
    Connection* conn = std::exchange(conn_, nullptr);
    if (Status st = conn->exec("COMMIT;"); !st) {
      (void)conn->exec("ROLLBACK;");
      return st;
    }
    return {};
  }

 private:
  explicit Transaction(Connection& conn) : conn_(&conn) {}
  Connection* conn_;
};

}  // namespace fnd::store::internal
