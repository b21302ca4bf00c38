// A small reader for the Gherkin .feature files of the CloudEvents conformance suite: enough of
// Gherkin for their scenarios (Background, Scenario, Scenario Outline with Examples, steps with a
// doc string or a data table). Outlines come back expanded, one scenario per Examples row.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fnd::eventing::test {

struct FeatureStep {
  std::string keyword;  // Given, When, Then, And, But
  std::string text;     // after the keyword
  std::optional<std::string> doc_string;
  std::vector<std::vector<std::string>> table;  // rows of cells, the header row included
};

struct FeatureScenario {
  std::string name;
  std::vector<FeatureStep> steps;  // the Background's first
};

namespace feature_detail {

inline std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

inline std::vector<std::string> table_row(std::string_view line) {
  std::vector<std::string> cells;
  line = trim(line);
  line.remove_prefix(1);  // the leading '|'
  while (!line.empty()) {
    std::size_t bar = line.find('|');
    if (bar == std::string_view::npos) break;
    cells.emplace_back(trim(line.substr(0, bar)));
    line.remove_prefix(bar + 1);
  }
  return cells;
}

inline std::string replace_all(std::string text, std::string_view from, std::string_view to) {
  for (std::size_t pos = text.find(from); pos != std::string::npos; pos = text.find(from, pos + to.size())) {
    text.replace(pos, from.size(), to);
  }
  return text;
}

inline bool starts_with_keyword(std::string_view line, std::string_view keyword) {
  return line.size() > keyword.size() && line.substr(0, keyword.size()) == keyword && line[keyword.size()] == ' ';
}

struct Outline {
  FeatureScenario scenario;
  std::vector<std::vector<std::string>> examples;  // header row first; empty for a plain scenario
  bool is_outline = false;
};

}  // namespace feature_detail

inline std::vector<FeatureScenario> read_feature(std::string_view text) {
  using namespace feature_detail;
  std::vector<FeatureStep> background;
  std::vector<Outline> outlines;
  std::vector<FeatureStep>* steps = nullptr;  // where steps go now
  std::vector<std::vector<std::string>>* examples = nullptr;

  std::vector<std::string_view> lines;
  for (std::size_t start = 0; start <= text.size();) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }

  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::string_view raw = lines[i];
    std::string_view line = trim(raw);
    if (line.empty() || line.front() == '#' || line.front() == '@') continue;
    if (line.starts_with("Background:")) {
      steps = &background;
      examples = nullptr;
    } else if (line.starts_with("Scenario Outline:") || line.starts_with("Scenario Template:") ||
               line.starts_with("Scenario:")) {
      Outline outline;
      outline.is_outline = !line.starts_with("Scenario:");
      outline.scenario.name = std::string(trim(line.substr(line.find(':') + 1)));
      outline.scenario.steps = background;
      outlines.push_back(std::move(outline));
      steps = &outlines.back().scenario.steps;
      examples = nullptr;
    } else if (line.starts_with("Examples:") || line.starts_with("Scenarios:")) {
      if (!outlines.empty()) examples = &outlines.back().examples;
      steps = nullptr;
    } else if (line.front() == '|') {
      if (examples != nullptr) {
        examples->push_back(table_row(line));
      } else if (steps != nullptr && !steps->empty()) {
        steps->back().table.push_back(table_row(line));
      }
    } else if (line.starts_with("\"\"\"")) {
      // The doc string's lines lose the indentation of its opening delimiter.
      std::size_t indent = raw.find("\"\"\"");
      std::string body;
      bool first = true;
      for (++i; i < lines.size() && !trim(lines[i]).starts_with("\"\"\""); ++i) {
        std::string_view content = lines[i];
        if (!content.empty() && content.back() == '\r') content.remove_suffix(1);
        std::size_t strip = 0;
        while (strip < indent && strip < content.size() && (content[strip] == ' ' || content[strip] == '\t')) ++strip;
        if (!first) body += '\n';
        body += content.substr(strip);
        first = false;
      }
      if (steps != nullptr && !steps->empty()) steps->back().doc_string = std::move(body);
    } else if (steps != nullptr) {
      for (std::string_view keyword : {"Given", "When", "Then", "And", "But", "*"}) {
        if (starts_with_keyword(line, keyword)) {
          steps->push_back(FeatureStep{std::string(keyword), std::string(trim(line.substr(keyword.size()))), {}, {}});
          break;
        }
      }
    }
    // Anything else (the Feature line, descriptions) carries no test data.
  }

  std::vector<FeatureScenario> scenarios;
  for (const Outline& outline : outlines) {
    if (!outline.is_outline) {
      scenarios.push_back(outline.scenario);
      continue;
    }
    for (std::size_t row = 1; row < outline.examples.size(); ++row) {
      const auto& header = outline.examples.front();
      const auto& values = outline.examples[row];
      auto substitute = [&](std::string s) {
        for (std::size_t c = 0; c < header.size() && c < values.size(); ++c) {
          s = replace_all(std::move(s), "<" + header[c] + ">", values[c]);
        }
        return s;
      };
      FeatureScenario scenario;
      scenario.name = substitute(outline.scenario.name);
      for (const FeatureStep& step : outline.scenario.steps) {
        FeatureStep expanded{step.keyword, substitute(step.text), std::nullopt, {}};
        if (step.doc_string) expanded.doc_string = substitute(*step.doc_string);
        for (const auto& cells : step.table) {
          std::vector<std::string> out;
          for (const auto& cell : cells) out.push_back(substitute(cell));
          expanded.table.push_back(std::move(out));
        }
        scenario.steps.push_back(std::move(expanded));
      }
      scenarios.push_back(std::move(scenario));
    }
  }
  return scenarios;
}

// The step whose text starts with `prefix`, or nullptr.
inline const FeatureStep* find_step(const FeatureScenario& scenario, std::string_view prefix) {
  for (const FeatureStep& step : scenario.steps) {
    if (step.text.starts_with(prefix)) return &step;
  }
  return nullptr;
}

}  // namespace fnd::eventing::test
