#include "cesql_like.hpp"

#include <cstddef>
#include <string_view>

#include "cesql_utf8.hpp"

namespace fnd::eventing::cesql::internal {

LikePattern LikePattern::compile(std::string_view pattern) {
  LikePattern compiled;
  compiled.elements_.reserve(pattern.size());
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size() &&
        (pattern[i + 1] == '%' || pattern[i + 1] == '_' || pattern[i + 1] == '\\')) {
      compiled.elements_.push_back({Kind::byte, pattern[++i]});
    } else if (c == '%') {
      // Adjacent runs match what one run matches; keeping one bounds the backtracking below.
      if (compiled.elements_.empty() || compiled.elements_.back().kind != Kind::any_run) {
        compiled.elements_.push_back({Kind::any_run, 0});
      }
    } else if (c == '_') {
      compiled.elements_.push_back({Kind::any_character, 0});
    } else {
      compiled.elements_.push_back({Kind::byte, c});
    }
  }
  return compiled;
}

// Greedy matching that, on a mismatch, lets the last `%` seen swallow one more character and
// retries from there: O(text * pattern) at worst, no recursion, no allocation.
bool LikePattern::matches(std::string_view text) const {
  constexpr std::size_t kNone = static_cast<std::size_t>(-1);
  const std::size_t count = elements_.size();
  std::size_t t = 0;
  std::size_t p = 0;
  std::size_t run_p = kNone;  // the last `%` seen
  std::size_t run_t = 0;      // where the text stood when it was seen
  while (t < text.size()) {
    if (p < count && elements_[p].kind == Kind::byte && elements_[p].byte == text[t]) {
      ++p;
      ++t;
    } else if (p < count && elements_[p].kind == Kind::any_character) {
      ++p;
      t = next_character(text, t);
    } else if (p < count && elements_[p].kind == Kind::any_run) {
      run_p = p++;
      run_t = t;
    } else if (run_p != kNone) {
      p = run_p + 1;
      run_t = next_character(text, run_t);
      t = run_t;
    } else {
      return false;
    }
  }
  while (p < count && elements_[p].kind == Kind::any_run) ++p;
  return p == count;
}

}  // namespace fnd::eventing::cesql::internal
