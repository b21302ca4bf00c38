#include "cesql_parser.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cesql_functions.hpp"
#include "cesql_lexer.hpp"
#include "cesql_like.hpp"
#include "cesql_value.hpp"

namespace fnd::eventing::cesql::internal {
namespace {

// Grammar, loosest first (spec 3.6; one level for AND, OR and XOR, each level left to right):
//   logic      := comparison ((AND | OR | XOR) comparison)*
//   comparison := additive (('=' | '!=' | '<>' | '<' | '<=' | '>' | '>=') additive)*
//   additive   := multiplicative (('+' | '-') multiplicative)*
//   multiplicative := postfix (('*' | '/' | '%') postfix)*
//   postfix    := unary ([NOT] LIKE string | [NOT] IN '(' logic (',' logic)* ')')*
//   unary      := NOT unary | '-' unary | ['+' | '-'] integer | primary
//   primary    := integer | string | TRUE | FALSE | EXISTS name | name | function '(' [logic (',' logic)*] ')'
//               | '(' logic ')'
class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

  Result<Node> parse_filter() {
    auto root = parse_logic();
    if (!root) return root;
    if (peek().kind != TokenKind::end) return expected(peek(), "an operator or the end of the filter");
    return root;
  }

 private:
  using Level = Result<Node> (Parser::*)();
  using Classifier = std::optional<Operator> (*)(TokenKind);

  // Counts recursion so that `((((...` or `NOT NOT NOT ...` cannot exhaust the stack.
  class Nesting {
   public:
    explicit Nesting(std::size_t& depth) : depth_(depth) { ++depth_; }
    ~Nesting() { --depth_; }
    Nesting(const Nesting&) = delete;
    Nesting& operator=(const Nesting&) = delete;
    bool too_deep() const { return depth_ > kMaxNestingDepth; }

   private:
    std::size_t& depth_;
  };

  static std::optional<Operator> logic_operator(TokenKind kind) {
    switch (kind) {
      case TokenKind::keyword_and:
        return Operator::conjunction;
      case TokenKind::keyword_or:
        return Operator::disjunction;
      case TokenKind::keyword_xor:
        return Operator::exclusive_or;
      default:
        return std::nullopt;
    }
  }
  static std::optional<Operator> comparison_operator(TokenKind kind) {
    switch (kind) {
      case TokenKind::equal:
        return Operator::equal;
      case TokenKind::not_equal:
        return Operator::not_equal;
      case TokenKind::less:
        return Operator::less;
      case TokenKind::less_equal:
        return Operator::less_equal;
      case TokenKind::greater:
        return Operator::greater;
      case TokenKind::greater_equal:
        return Operator::greater_equal;
      default:
        return std::nullopt;
    }
  }
  static std::optional<Operator> additive_operator(TokenKind kind) {
    switch (kind) {
      case TokenKind::plus:
        return Operator::add;
      case TokenKind::minus:
        return Operator::subtract;
      default:
        return std::nullopt;
    }
  }
  static std::optional<Operator> multiplicative_operator(TokenKind kind) {
    switch (kind) {
      case TokenKind::star:
        return Operator::multiply;
      case TokenKind::slash:
        return Operator::divide;
      case TokenKind::percent:
        return Operator::modulo;
      default:
        return std::nullopt;
    }
  }

  const Token& peek(std::size_t ahead = 0) const { return tokens_[std::min(next_ + ahead, tokens_.size() - 1)]; }
  const Token& advance() {
    const Token& token = tokens_[next_];
    if (next_ + 1 < tokens_.size()) ++next_;
    return token;
  }

  static std::string describe(const Token& token) {
    switch (token.kind) {
      case TokenKind::end:
        return "the end of the filter";
      case TokenKind::string:
        return "a string literal";
      default:
        return "'" + std::string(token.raw) + "'";
    }
  }
  static Error expected(const Token& found, std::string_view what) {
    return invalid_filter_error(found.position, "expected " + std::string(what) + " but found " + describe(found));
  }
  static Error too_deep(std::size_t position) {
    return invalid_filter_error(
        position, "the expression nests more than " + std::to_string(kMaxNestingDepth) + " levels deep; flatten it");
  }

  // Sets the depth of a node whose children are complete.
  static Result<Node> finish(Node node) {
    std::size_t deepest = 0;
    for (const Node& child : node.children) deepest = std::max(deepest, child.depth);
    node.depth = deepest + 1;
    if (node.depth > kMaxNestingDepth) return too_deep(node.position);
    return node;
  }

  static Node operation(NodeKind kind, Operator op, std::size_t position, Node left, Node right) {
    Node node;
    node.kind = kind;
    node.op = op;
    node.position = position;
    node.children.reserve(2);
    node.children.push_back(std::move(left));
    node.children.push_back(std::move(right));
    return node;
  }

  Result<Node> parse_logic() {
    Nesting nesting(nesting_);
    if (nesting.too_deep()) return too_deep(peek().position);
    auto first = parse_comparison();
    if (!first) return first;
    Node chain = std::move(first).value();
    while (auto op = logic_operator(peek().kind)) {
      const std::size_t position = advance().position;
      auto right = parse_comparison();
      if (!right) return right;
      // A run of one operator is one node: long OR lists do not make deep trees.
      if (chain.kind == NodeKind::logic && chain.op == *op) {
        chain.children.push_back(std::move(right).value());
        chain.depth = std::max(chain.depth, chain.children.back().depth + 1);
        if (chain.depth > kMaxNestingDepth) return too_deep(position);
        continue;
      }
      auto node = finish(operation(NodeKind::logic, *op, position, std::move(chain), std::move(right).value()));
      if (!node) return node;
      chain = std::move(node).value();
    }
    return chain;
  }

  Result<Node> parse_binary_level(Level next_level, Classifier classify, NodeKind kind) {
    auto first = (this->*next_level)();
    if (!first) return first;
    Node left = std::move(first).value();
    while (auto op = classify(peek().kind)) {
      const std::size_t position = advance().position;
      auto right = (this->*next_level)();
      if (!right) return right;
      auto node = finish(operation(kind, *op, position, std::move(left), std::move(right).value()));
      if (!node) return node;
      left = std::move(node).value();
    }
    return left;
  }

  Result<Node> parse_comparison() {
    return parse_binary_level(&Parser::parse_additive, &Parser::comparison_operator, NodeKind::comparison);
  }
  Result<Node> parse_additive() {
    return parse_binary_level(&Parser::parse_multiplicative, &Parser::additive_operator, NodeKind::arithmetic);
  }
  Result<Node> parse_multiplicative() {
    return parse_binary_level(&Parser::parse_postfix, &Parser::multiplicative_operator, NodeKind::arithmetic);
  }

  Result<Node> parse_postfix() {
    auto first = parse_unary();
    if (!first) return first;
    Node operand = std::move(first).value();
    while (true) {
      const std::size_t position = peek().position;
      const bool negated = peek().kind == TokenKind::keyword_not &&
                           (peek(1).kind == TokenKind::keyword_like || peek(1).kind == TokenKind::keyword_in);
      if (negated) advance();
      Node node;
      node.position = position;
      node.negated = negated;
      if (peek().kind == TokenKind::keyword_like) {
        advance();
        const Token& pattern = peek();
        if (pattern.kind != TokenKind::string) return expected(pattern, "a string literal as the pattern of LIKE");
        node.kind = NodeKind::like;
        node.pattern = LikePattern::compile(advance().text);
        node.children.push_back(std::move(operand));
      } else if (peek().kind == TokenKind::keyword_in) {
        advance();
        if (peek().kind != TokenKind::left_paren) return expected(peek(), "'(' opening the set of IN");
        advance();
        node.kind = NodeKind::in;
        node.children.push_back(std::move(operand));
        auto elements = parse_list(node.children, "the set of IN");
        if (!elements) return elements.error();
      } else {
        return operand;
      }
      auto finished = finish(std::move(node));
      if (!finished) return finished;
      operand = std::move(finished).value();
    }
  }

  // Comma-separated expressions up to and including ')', appended to `into`; the '(' is already
  // consumed. An empty list is accepted only for function calls (`allow_empty`).
  Status parse_list(std::vector<Node>& into, std::string_view what, bool allow_empty = false) {
    if (allow_empty && peek().kind == TokenKind::right_paren) {
      advance();
      return {};
    }
    while (true) {
      auto element = parse_logic();
      if (!element) return element.error();
      into.push_back(std::move(element).value());
      if (peek().kind == TokenKind::comma) {
        advance();
      } else if (peek().kind == TokenKind::right_paren) {
        advance();
        return {};
      } else {
        return expected(peek(), "',' or ')' closing " + std::string(what));
      }
    }
  }

  Result<Node> parse_unary() {
    const Token& token = peek();
    if (token.kind == TokenKind::keyword_not || token.kind == TokenKind::minus) {
      Nesting nesting(nesting_);
      if (nesting.too_deep()) return too_deep(token.position);
      const bool is_not = token.kind == TokenKind::keyword_not;
      const std::size_t position = advance().position;
      // A sign written before a number belongs to the literal (spec 2.2): this is how
      // -2147483648 is written, although 2147483648 is out of range.
      if (!is_not && peek().kind == TokenKind::integer) return integer_literal(advance(), true, position);
      auto operand = parse_unary();
      if (!operand) return operand;
      Node node;
      node.kind = is_not ? NodeKind::logical_not : NodeKind::negate;
      node.position = position;
      node.children.push_back(std::move(operand).value());
      return finish(std::move(node));
    }
    if (token.kind == TokenKind::plus) {
      const std::size_t position = advance().position;
      if (peek().kind != TokenKind::integer) return expected(peek(), "a number after '+'");
      return integer_literal(advance(), false, position);
    }
    return parse_primary();
  }

  static Result<Node> integer_literal(const Token& digits, bool negative, std::size_t position) {
    int64_t magnitude = 0;
    const int64_t limit = negative ? kIntegerMax + 1 : kIntegerMax;
    for (char c : digits.raw) {
      magnitude = magnitude * 10 + (c - '0');
      if (magnitude > limit) {
        return invalid_filter_error(position, "the number " + std::string(negative ? "-" : "") +
                                                  std::string(digits.raw) +
                                                  " is outside the 32-bit integer range (-2147483648 to 2147483647)");
      }
    }
    Node node;
    node.position = position;
    node.literal = negative ? -magnitude : magnitude;
    return node;
  }

  static bool is_attribute_name(std::string_view word) {
    return std::none_of(word.begin(), word.end(), [](char c) { return c == '_'; });
  }
  static bool is_function_name(std::string_view word) {
    const auto letter = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
    return !word.empty() && letter(word.front()) &&
           std::all_of(word.begin(), word.end(), [&](char c) { return letter(c) || c == '_'; });
  }
  static std::string lower_case(std::string_view word) {
    std::string lower(word);
    for (char& c : lower) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return lower;
  }

  Result<Node> parse_primary() {
    const Token& token = advance();
    Node node;
    node.position = token.position;
    switch (token.kind) {
      case TokenKind::integer:
        return integer_literal(token, false, token.position);
      case TokenKind::string:
        node.literal = token.text;
        return node;
      case TokenKind::keyword_true:
        node.literal = true;
        return node;
      case TokenKind::keyword_false:
        node.literal = false;
        return node;
      case TokenKind::keyword_exists: {
        const Token& name = peek();
        if (name.kind != TokenKind::word || !is_attribute_name(name.raw)) {
          return expected(name, "an attribute name after EXISTS");
        }
        node.kind = NodeKind::exists;
        node.name = lower_case(advance().raw);
        return node;
      }
      case TokenKind::left_paren: {
        auto inner = parse_logic();
        if (!inner) return inner;
        if (peek().kind != TokenKind::right_paren) return expected(peek(), "')'");
        advance();
        return inner;
      }
      case TokenKind::word:
        if (peek().kind == TokenKind::left_paren) {
          if (!is_function_name(token.raw)) {
            return invalid_filter_error(token.position, "'" + std::string(token.raw) +
                                                            "' is not a function name: those have letters and "
                                                            "underscores only");
          }
          advance();
          node.kind = NodeKind::call;
          node.name = std::string(token.raw);
          auto arguments = parse_list(node.children, "the arguments of " + node.name, true);
          if (!arguments) return arguments.error();
          node.function = find_function(node.name, node.children.size());
          return finish(std::move(node));
        }
        if (!is_attribute_name(token.raw)) {
          return invalid_filter_error(token.position, "'" + std::string(token.raw) +
                                                          "' is not an attribute name: those have letters and "
                                                          "digits only");
        }
        node.kind = NodeKind::attribute;
        node.name = lower_case(token.raw);
        return node;
      default:
        return expected(token, "an expression");
    }
  }

  std::vector<Token> tokens_;
  std::size_t next_ = 0;
  std::size_t nesting_ = 0;
};

}  // namespace

Result<Node> parse_tree(std::string_view text) {
  auto tokens = tokenize(text);
  if (!tokens) return tokens.error();
  return Parser(std::move(tokens).value()).parse_filter();
}

}  // namespace fnd::eventing::cesql::internal
