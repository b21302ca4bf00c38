#include "encoding.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/utf8.hpp"

namespace fnd::eventing::internal {

namespace {

bool is_noncharacter(char32_t cp) { return (cp >= 0xFDD0 && cp <= 0xFDEF) || (cp & 0xFFFE) == 0xFFFE; }


int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

}  // namespace

bool is_valid_string_value(std::string_view text) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto cp = next_code_point(text, pos);
    if (!cp) return false;
    if (*cp <= 0x1F || (*cp >= 0x7F && *cp <= 0x9F) || is_noncharacter(*cp)) return false;
  }
  return true;
}

std::string percent_encode(std::string_view value) {
  static constexpr std::string_view kHex = "0123456789ABCDEF";
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    auto b = static_cast<unsigned char>(c);
    if (b >= 0x21 && b <= 0x7E && b != '"' && b != '%') {
      out += c;
    } else {
      out += '%';
      out += kHex[b >> 4];
      out += kHex[b & 0x0F];
    }
  }
  return out;
}

std::optional<std::string> decode_header_value(std::string_view value) {
  // Step 1: remove the double-quoting older senders used (RFC 7230 quoted-string, with
  // backslash escapes inside the quotes).
  std::string unquoted;
  unquoted.reserve(value.size());
  bool quoted = false;
  for (std::size_t i = 0; i < value.size(); ++i) {
    char c = value[i];
    if (c == '"') {
      quoted = !quoted;
    } else if (quoted && c == '\\') {
      if (++i == value.size()) return std::nullopt;
      unquoted += value[i];
    } else {
      unquoted += c;
    }
  }
  if (quoted) return std::nullopt;
  // Step 2: exactly one round of percent-decoding.
  std::string out;
  out.reserve(unquoted.size());
  for (std::size_t i = 0; i < unquoted.size(); ++i) {
    if (unquoted[i] != '%') {
      out += unquoted[i];
      continue;
    }
    if (unquoted.size() - i < 3) return std::nullopt;
    int hi = hex_value(unquoted[i + 1]);
    int lo = hex_value(unquoted[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>((hi << 4) | lo);
    i += 2;
  }
  if (!is_valid_utf8(out)) return std::nullopt;
  return out;
}

std::string ascii_lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = lower(c);
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

bool istarts_with(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && iequals(text.substr(0, prefix.size()), prefix);
}

std::string_view trim_ows(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

std::string quote_for_message(std::string_view value) {
  constexpr std::size_t kMaxQuoted = 64;
  std::string out;
  for (char c : value.substr(0, kMaxQuoted)) {
    auto b = static_cast<unsigned char>(c);
    out += (b >= 0x20 && b <= 0x7E) ? c : '?';
  }
  if (value.size() > kMaxQuoted) out += "...";
  return out;
}

}  // namespace fnd::eventing::internal
