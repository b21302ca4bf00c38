#include "cesql_lexer.hpp"

#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "eventing/cesql.hpp"

namespace fnd::eventing::cesql::internal {
namespace {

bool is_word_character(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

bool equals_ignoring_ascii_case(std::string_view text, std::string_view lower) {
  if (text.size() != lower.size()) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != lower[i]) return false;
  }
  return true;
}

TokenKind word_kind(std::string_view word) {
  static constexpr std::array<std::pair<std::string_view, TokenKind>, 9> kKeywords{{
      {"and", TokenKind::keyword_and},
      {"or", TokenKind::keyword_or},
      {"xor", TokenKind::keyword_xor},
      {"not", TokenKind::keyword_not},
      {"like", TokenKind::keyword_like},
      {"in", TokenKind::keyword_in},
      {"exists", TokenKind::keyword_exists},
      {"true", TokenKind::keyword_true},
      {"false", TokenKind::keyword_false},
  }};
  for (const auto& [keyword, kind] : kKeywords) {
    if (equals_ignoring_ascii_case(word, keyword)) return kind;
  }
  for (char c : word) {
    if (!is_digit(c)) return TokenKind::word;
  }
  return TokenKind::integer;
}

std::string describe_character(char c) {
  const auto byte = static_cast<unsigned char>(c);
  if (byte >= 0x21 && byte < 0x7F) return std::string("unexpected character '") + c + "'";
  return "unexpected character (byte " + std::to_string(byte) + "); only string literals may hold other characters";
}

}  // namespace

Error invalid_filter_error(std::size_t position, std::string_view problem) {
  return make_error(std::string(kInvalidFilter),
                    "invalid CESQL filter at position " + std::to_string(position + 1) + ": " + std::string(problem),
                    400);
}

Result<std::vector<Token>> tokenize(std::string_view text) {
  std::vector<Token> tokens;
  std::size_t i = 0;
  while (true) {
    while (i < text.size() && is_space(text[i])) ++i;
    Token token;
    token.position = i;
    if (i == text.size()) {
      tokens.push_back(std::move(token));
      return tokens;
    }
    const char c = text[i];
    if (is_word_character(c)) {
      while (i < text.size() && is_word_character(text[i])) ++i;
      token.raw = text.substr(token.position, i - token.position);
      token.kind = word_kind(token.raw);
    } else if (c == '\'' || c == '"') {
      // A backslash always takes the next character with it (so `\'` never closes the literal),
      // but only an escaped quote of the literal's own kind loses its backslash: LIKE needs to
      // see `\%` and `\_`. A doubled quote also stands for one quote, as in SQL.
      token.kind = TokenKind::string;
      ++i;
      bool closed = false;
      while (i < text.size()) {
        const char d = text[i];
        if (d == '\\' && i + 1 < text.size()) {
          if (text[i + 1] != c) token.text += '\\';
          token.text += text[i + 1];
          i += 2;
        } else if (d == c && i + 1 < text.size() && text[i + 1] == c) {
          token.text += c;
          i += 2;
        } else if (d == c) {
          ++i;
          closed = true;
          break;
        } else {
          token.text += d;
          ++i;
        }
      }
      if (!closed) return invalid_filter_error(token.position, "the string literal that starts here is not closed");
      token.raw = text.substr(token.position, i - token.position);
    } else {
      std::size_t length = 1;
      const char next = i + 1 < text.size() ? text[i + 1] : '\0';
      switch (c) {
        case '(':
          token.kind = TokenKind::left_paren;
          break;
        case ')':
          token.kind = TokenKind::right_paren;
          break;
        case ',':
          token.kind = TokenKind::comma;
          break;
        case '+':
          token.kind = TokenKind::plus;
          break;
        case '-':
          token.kind = TokenKind::minus;
          break;
        case '*':
          token.kind = TokenKind::star;
          break;
        case '/':
          token.kind = TokenKind::slash;
          break;
        case '%':
          token.kind = TokenKind::percent;
          break;
        case '=':
          token.kind = TokenKind::equal;
          break;
        case '!':
          if (next != '=') return invalid_filter_error(i, "expected '=' after '!' (the operator is '!=')");
          token.kind = TokenKind::not_equal;
          length = 2;
          break;
        case '<':
          if (next == '=') {
            token.kind = TokenKind::less_equal;
            length = 2;
          } else if (next == '>') {
            token.kind = TokenKind::not_equal;
            length = 2;
          } else {
            token.kind = TokenKind::less;
          }
          break;
        case '>':
          if (next == '=') {
            token.kind = TokenKind::greater_equal;
            length = 2;
          } else {
            token.kind = TokenKind::greater;
          }
          break;
        default:
          return invalid_filter_error(i, describe_character(c));
      }
      i += length;
      token.raw = text.substr(token.position, length);
    }
    tokens.push_back(std::move(token));
  }
}

}  // namespace fnd::eventing::cesql::internal
