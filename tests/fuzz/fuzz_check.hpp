// What every fuzz target shares: an invariant check that stops the fuzzer with a message (so that
// libFuzzer saves the input as a crash), and a view of the input as text.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace fnd::fuzz {

[[noreturn]] inline void invariant_failed(const char* condition, const char* file, int line, const std::string& detail) {
  std::fprintf(stderr, "%s:%d: invariant broken: %s\n%s\n", file, line, condition, detail.c_str());
  std::abort();
}

inline std::string_view as_text(const uint8_t* data, size_t size) {
  return std::string_view(reinterpret_cast<const char*>(data), size);
}

// Splits the input at the first occurrence of `separator`: (before, after). Without one, all of
// it is `before` and `after` is empty. Lets one input carry several fields (a header and a body).
inline std::pair<std::string_view, std::string_view> split_once(std::string_view text, std::string_view separator) {
  auto at = text.find(separator);
  if (at == std::string_view::npos) return {text, {}};
  return {text.substr(0, at), text.substr(at + separator.size())};
}

}  // namespace fnd::fuzz

// Checks a cheap invariant; on failure prints `detail` (a std::string expression) and aborts.
#define FND_FUZZ_CHECK(condition, detail)                                                   \
  do {                                                                                      \
    if (!(condition)) ::fnd::fuzz::invariant_failed(#condition, __FILE__, __LINE__, (detail)); \
  } while (0)
