// fnd_mesh_requests_total{caller,target,code}: what functions asked of the node-level endpoint.
// Private to the mesh module.
//
// Thread safe: counted on the io thread, rendered by whichever thread scrapes /metrics.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>

namespace fnd::mesh::internal {

class RequestCounters {
 public:
  // `target` is a function's name, or what else was asked for ("state", "events:BROKER", "-").
  void count(std::string_view caller, std::string_view target, unsigned code);
  uint64_t value(std::string_view caller, std::string_view target, unsigned code) const;
  // Appends the series in Prometheus text format (HELP and TYPE included).
  void render(std::string& out) const;

 private:
  using Key = std::tuple<std::string, std::string, unsigned>;
  mutable std::mutex mutex_;
  std::map<Key, uint64_t> counts_;
};

}  // namespace fnd::mesh::internal
