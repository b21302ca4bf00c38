// The public CESQL conformance suite (cloudevents/spec cesql/cesql_tck), read at run time from
// FND_CONFORMANCE_DIR: every case of every file must give the expected value and error kind.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cctype>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "eventing/cesql.hpp"

namespace cesql = fnd::eventing::cesql;

namespace {

using Attributes = std::map<std::string, cesql::Value, std::less<>>;

// YAML scalars as the suite means them: quoted ones are strings; plain ones are booleans,
// integers or else strings (YAML 1.2's core schema, which yaml-cpp does not apply by itself).
cesql::Value value_of(const YAML::Node& node) {
  const std::string& text = node.Scalar();
  if (node.Tag() == "!") return text;  // quoted
  std::string lower = text;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  if (lower == "true") return true;
  if (lower == "false") return false;
  const bool integer = !text.empty() &&
                       std::all_of(text.begin() + (text[0] == '-' || text[0] == '+' ? 1 : 0), text.end(),
                                   [](unsigned char c) { return std::isdigit(c); }) &&
                       text.find_first_of("0123456789") != std::string::npos;
  if (integer) return static_cast<int64_t>(std::stoll(text));
  return text;
}

std::string show(const cesql::Value& value) {
  if (const bool* b = std::get_if<bool>(&value)) return *b ? "Boolean true" : "Boolean false";
  if (const int64_t* i = std::get_if<int64_t>(&value)) return "Integer " + std::to_string(*i);
  return "String '" + std::get<std::string>(value) + "'";
}

// The event of a case: `event` as given, or a valid event changed by `eventOverrides`.
Attributes event_of(const YAML::Node& test) {
  Attributes attributes;
  if (test["event"]) {
    for (const auto& entry : test["event"]) attributes[entry.first.as<std::string>()] = value_of(entry.second);
    return attributes;
  }
  attributes = {{"specversion", std::string("1.0")},
                {"id", std::string("tck-event")},
                {"source", std::string("/fnd/tck")},
                {"type", std::string("dev.fnd.tck")}};
  if (test["eventOverrides"]) {
    for (const auto& entry : test["eventOverrides"]) {
      attributes[entry.first.as<std::string>()] = value_of(entry.second);
    }
  }
  return attributes;
}

// What is wrong with one case; empty when it passes.
std::string check_case(const YAML::Node& test) {
  const std::string expression = test["expression"].as<std::string>();
  const Attributes attributes = event_of(test);
  const cesql::AttributeLookup lookup = [&attributes](std::string_view name) -> std::optional<cesql::Value> {
    const auto found = attributes.find(name);
    if (found == attributes.end()) return std::nullopt;
    return found->second;
  };

  // A text that does not parse has no value; it counts as false, the zero value the spec
  // assumes when a type cannot be known.
  cesql::Value value = false;
  std::optional<std::string> error_kind;
  std::string error_message;
  auto parsed = cesql::Expression::parse(expression);
  if (!parsed) {
    error_kind = std::string(cesql::to_string(cesql::ErrorKind::parse));
    error_message = parsed.error().message;
  } else {
    auto outcome = parsed->evaluate(lookup);
    value = std::move(outcome.value);
    if (outcome.error) {
      error_kind = std::string(cesql::to_string(outcome.error->kind));
      error_message = outcome.error->message;
    }
  }

  std::ostringstream problem;
  const std::optional<std::string> expected_error =
      test["error"] ? std::optional<std::string>(test["error"].as<std::string>()) : std::nullopt;
  if (expected_error != error_kind) {
    problem << "expected " << (expected_error ? "a " + *expected_error + " error" : std::string("no error")) << ", got "
            << (error_kind ? "a " + *error_kind + " error (" + error_message + ")" : std::string("none")) << ". ";
  }
  if (test["result"]) {
    const cesql::Value expected = value_of(test["result"]);
    if (expected != value) problem << "expected " << show(expected) << ", got " << show(value) << ".";
  }
  return problem.str();
}

}  // namespace

TEST_CASE("CESQL conformance suite: every case of every file passes", "[unit]") {
  const std::filesystem::path directory = std::filesystem::path(FND_CONFORMANCE_DIR) / "cloudevents" / "cesql_tck";
  if (!std::filesystem::is_directory(directory)) {
    WARN("CESQL conformance cases are missing: no directory " << directory.string() << "; nothing checked");
    return;
  }
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(directory)) {
    if (entry.is_regular_file() && entry.path().extension() == ".yaml") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());

  std::size_t ran = 0;
  std::size_t failed = 0;
  for (const auto& file : files) {
    YAML::Node suite;
    REQUIRE_NOTHROW(suite = YAML::LoadFile(file.string()));
    REQUIRE(suite["tests"].IsSequence());
    for (const auto& test : suite["tests"]) {
      ++ran;
      const std::string problem = check_case(test);
      if (!problem.empty()) {
        ++failed;
        FAIL_CHECK(file.filename().string() << ": \"" << test["name"].as<std::string>()
                                            << "\": " << test["expression"].as<std::string>() << " -> " << problem);
      }
    }
  }
  std::cout << "CESQL conformance suite: " << ran - failed << " of " << ran << " cases from " << files.size()
            << " files passed\n";
  INFO(ran << " cases ran");
  REQUIRE(ran >= 270);
}
