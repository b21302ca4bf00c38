#include "instance_ids.hpp"

#include <fmt/format.h>

#include "bundle.hpp"
#include "user_namespace.hpp"

namespace fnd::runtime::internal {

Result<uint32_t> InstanceIds::acquire(const std::string& instance) {
  if (auto held = first_id(instance)) return *held;
  auto block = blocks_.acquire();
  if (!block) {
    Error e = make_error(std::string(kIdBlocksExhausted),
                         fmt::format("every one of the {} uid blocks of {} is held by a running instance; stop some "
                                     "instances or give fnd a larger range (runtime.subuid_count)",
                                     blocks_.capacity(), blocks_.range().source), 503);
    e.retryable = true;
    return e;
  }
  held_[instance] = *block;
  return blocks_.first_id(*block);
}

void InstanceIds::release(const std::string& instance) {
  auto it = held_.find(instance);
  if (it == held_.end()) return;
  blocks_.release(it->second);
  held_.erase(it);
}

std::optional<uint32_t> InstanceIds::first_id(const std::string& instance) const {
  auto it = held_.find(instance);
  if (it == held_.end()) return std::nullopt;
  return blocks_.first_id(it->second);
}

Result<int> InstanceIds::code_idmap(const std::string& instance) {
  auto it = held_.find(instance);
  if (it == held_.end()) {
    return make_error(std::string(kIdBlocksExhausted), fmt::format("instance {} holds no uid block", instance), 500);
  }
  auto cached = idmaps_.find(it->second);
  if (cached != idmaps_.end()) return cached->second.get();
  auto userns = make_idmap_namespace(blocks_.first_id(it->second) + kFunctionUid);
  if (!userns) return userns.error();
  int fd = userns->get();
  idmaps_.emplace(it->second, std::move(*userns));
  return fd;
}

}  // namespace fnd::runtime::internal
