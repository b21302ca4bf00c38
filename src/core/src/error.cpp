#include "core/error.hpp"

#include <cstring>

namespace fnd {

Error make_error(std::string code, std::string message, int http_status) {
  return Error{std::move(code), std::move(message), http_status, false};
}

Error make_errno_error(std::string code, std::string what, int errnum) {
  return Error{std::move(code), what + ": " + std::strerror(errnum), 500, false};
}

}  // namespace fnd
