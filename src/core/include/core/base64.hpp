// Base64 (RFC 4648): the standard alphabet with padding, and the URL-safe one without. Pure.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace fnd {

std::string base64_encode(std::string_view bytes);
// URL- and file-name-safe alphabet ('-', '_'), no padding.
std::string base64url_encode(std::string_view bytes);
// Standard alphabet; the padding may be omitted. nullopt on any other character or a length no
// encoding has.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace fnd
