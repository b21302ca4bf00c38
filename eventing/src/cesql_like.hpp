// The pattern of LIKE (spec 3.4.3), compiled once when the filter is parsed so that matching an
// event allocates nothing.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace fnd::eventing::cesql::internal {

class LikePattern {
 public:
  // `%` matches any run of characters, `_` exactly one; `\%`, `\_` and `\\` match `%`, `_` and
  // `\`. Any other backslash is an ordinary character, so `ab\c` matches the text `ab\c`.
  static LikePattern compile(std::string_view pattern);

  // Case-sensitive; characters are UTF-8 code points.
  bool matches(std::string_view text) const;

 private:
  enum class Kind : uint8_t { byte, any_character, any_run };
  struct Element {
    Kind kind;
    char byte;  // Kind::byte only
  };
  std::vector<Element> elements_;
};

}  // namespace fnd::eventing::cesql::internal
