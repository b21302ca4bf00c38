#include "core/trace_context.hpp"

#include <algorithm>

namespace fnd {

namespace {

constexpr char kHex[] = "0123456789abcdef";

bool lower_hex(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool all_zeros(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return c == '0'; });
}

void fill_random_hex(char* out, size_t digits, std::mt19937_64& random) {
  do {
    for (size_t i = 0; i < digits; i += 16) {
      uint64_t bits = random();
      for (size_t j = 0; j < 16 && i + j < digits; ++j, bits >>= 4) out[i + j] = kHex[bits & 0xf];
    }
  } while (all_zeros(std::string_view(out, digits)));  // an all-zero id is invalid
}

}  // namespace

std::optional<TraceContext> TraceContext::parse(std::string_view field) {
  if (field.size() < kFieldSize || field[2] != '-' || field[35] != '-' || field[52] != '-') return std::nullopt;
  std::string_view version = field.substr(0, 2);
  if (!lower_hex(version) || version == "ff") return std::nullopt;
  // Version 00 is exactly 55 characters; a later version may add fields after a '-'.
  if (field.size() > kFieldSize && (version == "00" || field[kFieldSize] != '-')) return std::nullopt;
  std::string_view trace = field.substr(3, 32);
  std::string_view parent = field.substr(36, 16);
  std::string_view flags = field.substr(53, 2);
  if (!lower_hex(trace) || !lower_hex(parent) || !lower_hex(flags) || all_zeros(trace) || all_zeros(parent)) {
    return std::nullopt;
  }
  TraceContext out;
  std::copy_n(field.begin(), kFieldSize, out.text_.begin());
  out.text_[0] = '0';  // what fnd passes on is version 00, the one it speaks
  out.text_[1] = '0';
  return out;
}

TraceContext TraceContext::start(std::mt19937_64& random) {
  TraceContext out;
  std::string_view layout = "00-00000000000000000000000000000000-0000000000000000-01";
  std::copy(layout.begin(), layout.end(), out.text_.begin());
  fill_random_hex(out.text_.data() + 3, 32, random);
  fill_random_hex(out.text_.data() + 36, 16, random);
  return out;
}

TraceContext TraceContext::hop(std::optional<TraceContext> incoming, std::mt19937_64& random) {
  return incoming ? incoming->child(random) : start(random);
}

TraceContext TraceContext::child(std::mt19937_64& random) const {
  TraceContext out = *this;
  fill_random_hex(out.text_.data() + 36, 16, random);
  return out;
}

}  // namespace fnd
