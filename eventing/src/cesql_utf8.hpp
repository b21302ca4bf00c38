// CESQL counts characters (LENGTH, LEFT, SUBSTRING, LIKE's `_`) as Unicode code points of
// UTF-8 text. Invalid UTF-8 is not rejected: each stray byte counts as one character, so no
// operation ever splits a well-formed sequence.
#pragma once

#include <cstddef>
#include <string_view>

namespace fnd::eventing::cesql::internal {

inline bool is_utf8_continuation(char byte) { return (static_cast<unsigned char>(byte) & 0xC0) == 0x80; }

// How many bytes a sequence starting with `lead` has; 1 for a byte that cannot start one.
inline std::size_t utf8_sequence_length(char lead) {
  const auto byte = static_cast<unsigned char>(lead);
  if (byte >= 0xC2 && byte <= 0xDF) return 2;
  if (byte >= 0xE0 && byte <= 0xEF) return 3;
  if (byte >= 0xF0 && byte <= 0xF4) return 4;
  return 1;
}

// The byte offset of the character after the one starting at `at` (at < text.size()).
inline std::size_t next_character(std::string_view text, std::size_t at) {
  const std::size_t length = utf8_sequence_length(text[at]);
  std::size_t end = at + 1;
  while (end < at + length && end < text.size() && is_utf8_continuation(text[end])) ++end;
  return end;
}

inline std::size_t character_count(std::string_view text) {
  std::size_t count = 0;
  for (std::size_t at = 0; at < text.size(); at = next_character(text, at)) ++count;
  return count;
}

// The byte offset after the first `characters` characters (text.size() when there are fewer).
inline std::size_t offset_of_character(std::string_view text, std::size_t characters) {
  std::size_t at = 0;
  for (; characters > 0 && at < text.size(); --characters) at = next_character(text, at);
  return at;
}

// The code point starting at `at` and the offset after it; U+FFFD for a stray byte.
struct DecodedCharacter {
  char32_t code_point;
  std::size_t end;
};
inline DecodedCharacter decode_character(std::string_view text, std::size_t at) {
  const std::size_t end = next_character(text, at);
  const std::size_t length = end - at;
  const auto lead = static_cast<unsigned char>(text[at]);
  if (length == 1) return {lead < 0x80 ? char32_t{lead} : char32_t{0xFFFD}, end};
  if (length != utf8_sequence_length(text[at])) return {char32_t{0xFFFD}, end};  // cut short
  char32_t code_point = lead & (length == 2 ? 0x1F : length == 3 ? 0x0F : 0x07);
  for (std::size_t i = at + 1; i < end; ++i) {
    code_point = (code_point << 6) | (static_cast<unsigned char>(text[i]) & 0x3F);
  }
  return {code_point, end};
}

// Unicode's White_Space property.
inline bool is_unicode_whitespace(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

}  // namespace fnd::eventing::cesql::internal
