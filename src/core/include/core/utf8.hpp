// UTF-8 checks shared by every reader of outside text (specs in YAML, CloudEvents). Pure functions.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace fnd {

// Decodes the code point at `pos` and advances past it; nullopt when the sequence is not
// well-formed UTF-8 (RFC 3629: shortest form only, no surrogates, at most U+10FFFF).
// Precondition: pos < bytes.size().
std::optional<char32_t> next_code_point(std::string_view bytes, std::size_t& pos);

// Well-formed UTF-8 only: no overlong forms, no surrogates, nothing above U+10FFFF.
bool is_valid_utf8(std::string_view bytes);

}  // namespace fnd
