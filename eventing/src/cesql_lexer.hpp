// Splits CESQL text into tokens. Keywords are recognized in any case; words that are not
// keywords (attribute and function names) are left for the parser to judge.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace fnd::eventing::cesql::internal {

enum class TokenKind {
  end,
  integer,  // digits only; the sign is the parser's business
  string,   // `text` holds the value, escapes resolved
  word,     // letters, digits and underscores that are not a keyword
  left_paren,
  right_paren,
  comma,
  plus,
  minus,
  star,
  slash,
  percent,
  equal,
  not_equal,  // != or <>
  less,
  less_equal,
  greater,
  greater_equal,
  keyword_and,
  keyword_or,
  keyword_xor,
  keyword_not,
  keyword_like,
  keyword_in,
  keyword_exists,
  keyword_true,
  keyword_false,
};

struct Token {
  TokenKind kind = TokenKind::end;
  std::size_t position = 0;  // byte offset in the text
  std::string_view raw;      // the token as written (views the text given to tokenize)
  std::string text;          // string literals: the value
};

// The tokens of `text`, ending with one TokenKind::end. Fails (invalid_filter) on a character
// that starts no token or on an unterminated string literal.
Result<std::vector<Token>> tokenize(std::string_view text);

// The invalid_filter error, 400: "invalid CESQL filter at position N: <problem>".
Error invalid_filter_error(std::size_t position, std::string_view problem);

}  // namespace fnd::eventing::cesql::internal
