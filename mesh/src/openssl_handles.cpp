#include "openssl_handles.hpp"

#include <openssl/err.h>

namespace fnd::mesh::internal {

std::string take_openssl_errors() {
  std::string text;
  while (unsigned long code = ERR_get_error()) {
    char line[256];
    ERR_error_string_n(code, line, sizeof line);
    if (!text.empty()) text += "; ";
    text += line;
  }
  return text.empty() ? "unknown" : text;
}

}  // namespace fnd::mesh::internal
