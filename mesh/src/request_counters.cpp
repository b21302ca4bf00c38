#include "request_counters.hpp"

#include <fmt/format.h>

#include "core/metrics.hpp"

namespace fnd::mesh::internal {

void RequestCounters::count(std::string_view caller, std::string_view target, unsigned code) {
  Key key{std::string(caller), std::string(target), code};
  std::lock_guard lock(mutex_);
  ++counts_[std::move(key)];
}

uint64_t RequestCounters::value(std::string_view caller, std::string_view target, unsigned code) const {
  std::lock_guard lock(mutex_);
  auto it = counts_.find(Key{std::string(caller), std::string(target), code});
  return it == counts_.end() ? 0 : it->second;
}

void RequestCounters::render(std::string& out) const {
  out +=
      "# HELP fnd_mesh_requests_total Requests functions made through the node-level mesh endpoint, by calling "
      "function, target and answer status.\n# TYPE fnd_mesh_requests_total counter\n";
  std::lock_guard lock(mutex_);
  for (const auto& [key, value] : counts_) {
    const auto& [caller, target, code] = key;
    fmt::format_to(std::back_inserter(out), "fnd_mesh_requests_total{{caller=\"{}\",target=\"{}\",code=\"{}\"}} {}\n",
                   escape_label(caller), escape_label(target), code, value);
  }
}

}  // namespace fnd::mesh::internal
