// Errors as values. Expected failures on request paths come back as Result<T>; exceptions are
// for startup/config problems and bugs only (see STYLE.md "Errors").
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace fnd {

// A failure a user or caller can act on. `code` is stable (clients match on it), `message`
// is one actionable sentence, `http_status` is what the REST API answers with.
struct Error {
  std::string code;
  std::string message;
  int http_status = 500;
  bool retryable = false;
  int retry_after_seconds = 0;  // > 0: the API answers with Retry-After (load shedding, queue limits)
};

Error make_error(std::string code, std::string message, int http_status = 500);
// An OS failure with errno's text appended: "open /x: No such file or directory".
Error make_errno_error(std::string code, std::string what, int errnum);

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}           // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}       // NOLINT: implicit by design

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { assert(ok()); return std::get<0>(v_); }
  const T& value() const& { assert(ok()); return std::get<0>(v_); }
  T&& value() && { assert(ok()); return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const { assert(!ok()); return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), failed_(true) {}  // NOLINT
  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  const Error& error() const { assert(failed_); return error_; }

 private:
  Error error_;
  bool failed_ = false;
};

using Status = Result<void>;

}  // namespace fnd
