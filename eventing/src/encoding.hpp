// Byte-level encodings the CloudEvents formats and bindings share: UTF-8 checks (Base64 is
// core/base64.hpp), the HTTP binding's percent-encoding of header values, and a few ASCII helpers. Pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/utf8.hpp"

namespace fnd::eventing::internal {

using fnd::is_valid_utf8;  // core/utf8.hpp

// True when `text` is a CloudEvents String: valid UTF-8 without control characters
// (U+0000-U+001F, U+007F-U+009F) or Unicode noncharacters.
bool is_valid_string_value(std::string_view text);

// The HTTP binding's encoding of an attribute value in a header: space, '"', '%' and every byte
// outside U+0021-U+007E become %XY (upper-case hex).
std::string percent_encode(std::string_view value);
// A header value back to the attribute value: double-quoted strings unescaped (RFC 7230 3.2.6),
// then one round of percent-decoding. nullopt on an unterminated quote, a malformed %XY or a
// result that is not valid UTF-8.
std::optional<std::string> decode_header_value(std::string_view value);

std::string ascii_lower(std::string_view text);
bool iequals(std::string_view a, std::string_view b);
bool istarts_with(std::string_view text, std::string_view prefix);
// Without leading and trailing spaces and tabs (HTTP's optional whitespace).
std::string_view trim_ows(std::string_view text);
// Printable ASCII only and at most 64 bytes, for quoting a user's value in an error message.
std::string quote_for_message(std::string_view value);

}  // namespace fnd::eventing::internal
