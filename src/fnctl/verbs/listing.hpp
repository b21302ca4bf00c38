// What the list verbs share: an answer printed as JSON (-o json) or as a table of one of its
// arrays, and a JSON list of strings joined for a table cell.
#pragma once

#include <fmt/format.h>

#include <boost/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "commands.hpp"

namespace fnd::fnctl {

// Prints the answer as JSON (-o json) or hands its array `key` to `render` (a Table).
template <typename Render>
int print_list(const Result<JsonAnswer>& answer, const GlobalOptions& globals, std::string_view key, Render render,
               std::string_view empty_hint) {
  if (!answer) return report_error(answer.error());
  if (globals.output == OutputFormat::json) {
    fmt::print("{}", pretty_json(answer->body));
    return kExitOk;
  }
  const auto* object = answer->body.if_object();
  const auto* items = object ? object->if_contains(key) : nullptr;
  if (items == nullptr || !items->is_array()) {
    return report_error(
        make_error("invalid_answer", fmt::format("fnd's answer has no '{}' list; is fnd up to date?", key)));
  }
  if (items->get_array().empty()) {
    fmt::print(stderr, "{}\n", empty_hint);
    return kExitOk;
  }
  fmt::print("{}", render(items->get_array()).render());
  return kExitOk;
}

// The strings of the list `key` of `object`, comma-separated; "" when there is none.
inline std::string joined(const boost::json::object& object, std::string_view key) {
  const auto* list = object.if_contains(key);
  if (list == nullptr || !list->is_array()) return "";
  std::vector<std::string> parts;
  for (const auto& item : list->get_array()) {
    if (item.is_string()) parts.emplace_back(item.get_string());
  }
  return fmt::format("{}", fmt::join(parts, ","));
}

}  // namespace fnd::fnctl
