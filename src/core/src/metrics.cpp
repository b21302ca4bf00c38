#include "core/metrics.hpp"

#include <fmt/format.h>

namespace fnd {

void Histogram::observe(std::chrono::nanoseconds duration) {
  double seconds = std::chrono::duration<double>(duration).count();
  size_t bucket = 0;
  while (bucket < kBounds.size() && seconds > kBounds[bucket]) ++bucket;
  counts_[bucket].fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(static_cast<uint64_t>(std::max<int64_t>(0, duration.count())), std::memory_order_relaxed);
}

void Histogram::render(std::string& out, std::string_view name, std::string_view labels) const {
  uint64_t cumulative = 0;
  for (size_t i = 0; i < kBounds.size(); ++i) {
    cumulative += counts_[i].load(std::memory_order_relaxed);
    fmt::format_to(std::back_inserter(out), "{}_bucket{{{},le=\"{}\"}} {}\n", name, labels, kBounds[i], cumulative);
  }
  cumulative += counts_[kBounds.size()].load(std::memory_order_relaxed);
  fmt::format_to(std::back_inserter(out), "{}_bucket{{{},le=\"+Inf\"}} {}\n", name, labels, cumulative);
  fmt::format_to(std::back_inserter(out), "{}_sum{{{}}} {:.6f}\n", name, labels,
                 static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9);
  fmt::format_to(std::back_inserter(out), "{}_count{{{}}} {}\n", name, labels, cumulative);
}

void FunctionMetrics::answered(unsigned status, std::chrono::nanoseconds elapsed) {
  answers[status >= 100 && status < 600 ? status / 100 : 0].add();
  duration.observe(elapsed);
}

FunctionMetrics& MetricsRegistry::function(std::string_view name) {
  std::lock_guard lock(mutex_);
  auto it = functions_.find(name);
  if (it == functions_.end()) it = functions_.emplace(std::string(name), std::make_unique<FunctionMetrics>()).first;
  return *it->second;
}

void MetricsRegistry::add_collector(std::function<void(std::string&)> collector) {
  std::lock_guard lock(mutex_);
  collectors_.push_back(std::move(collector));
}

std::string escape_label(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

std::string MetricsRegistry::render() const {
  std::lock_guard lock(mutex_);
  std::string out;
  auto back = std::back_inserter(out);
  out += "# HELP fnd_invocations_total Invocations answered, by function and status class (\"none\": no answer sent).\n"
         "# TYPE fnd_invocations_total counter\n";
  constexpr const char* kClasses[] = {"none", "1xx", "2xx", "3xx", "4xx", "5xx"};
  for (const auto& [name, m] : functions_) {
    for (size_t i = 0; i < m->answers.size(); ++i) {
      if (uint64_t n = m->answers[i].value(); n > 0 || i == 2) {
        fmt::format_to(back, "fnd_invocations_total{{function=\"{}\",code=\"{}\"}} {}\n", escape_label(name), kClasses[i], n);
      }
    }
  }
  out += "# HELP fnd_invocation_duration_seconds From request received to answer sent, cold starts included.\n"
         "# TYPE fnd_invocation_duration_seconds histogram\n";
  for (const auto& [name, m] : functions_) {
    m->duration.render(out, "fnd_invocation_duration_seconds", fmt::format("function=\"{}\"", escape_label(name)));
  }
  out += "# HELP fnd_cold_starts_total Instances started for a request or ahead of one, by how they started.\n"
         "# TYPE fnd_cold_starts_total counter\n";
  constexpr const char* kOrigins[] = {"container", "stem_cell", "precreated"};
  for (const auto& [name, m] : functions_) {
    for (size_t i = 0; i < m->cold_starts.size(); ++i) {
      fmt::format_to(back, "fnd_cold_starts_total{{function=\"{}\",origin=\"{}\"}} {}\n", escape_label(name), kOrigins[i],
                     m->cold_starts[i].value());
    }
  }
  out += "# HELP fnd_cold_start_duration_seconds From an instance asked for to it accepting connections.\n"
         "# TYPE fnd_cold_start_duration_seconds histogram\n";
  for (const auto& [name, m] : functions_) {
    m->cold_start_duration.render(out, "fnd_cold_start_duration_seconds", fmt::format("function=\"{}\"", escape_label(name)));
  }
  for (const auto& collector : collectors_) collector(out);
  return out;
}

}  // namespace fnd
