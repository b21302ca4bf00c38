#include "scheduler/function_directory.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/names.hpp"

namespace fnd::scheduler {

std::shared_ptr<const store::Revision> FunctionDirectory::find(std::string_view name) const {
  auto it = latest_.find(name);
  return it == latest_.end() ? nullptr : it->second;
}

void FunctionDirectory::publish(store::Revision revision) {
  std::string name = revision.function;
  if (!revision.damage.empty()) {
    latest_.erase(name);
    broken_[name] = std::move(revision.damage);
    return;
  }
  broken_.erase(name);
  latest_[name] = std::make_shared<const store::Revision>(std::move(revision));
}

void FunctionDirectory::remove(std::string_view name) {
  if (auto it = latest_.find(name); it != latest_.end()) latest_.erase(it);
  if (auto it = broken_.find(name); it != broken_.end()) broken_.erase(it);
}

std::vector<std::string> FunctionDirectory::names() const {
  std::vector<std::string> out;
  for (const auto& [name, rev] : latest_) out.push_back(name);
  for (const auto& [name, damage] : broken_) out.push_back(name);
  return out;
}

Status FunctionDirectory::load(store::FunctionRepository& repository) {
  auto functions = repository.list();
  if (!functions) return functions.error();
  for (const auto& fn : *functions) {
    auto latest = repository.latest_revision(fn.name);
    if (!latest) return latest.error();
    if (!*latest) continue;
    if (!(*latest)->damage.empty()) {
      spdlog::error("function '{}' cannot be served: {}. Deploy it again or delete it; the other functions are served",
                    fn.name, (*latest)->damage);
    }
    publish(std::move(**latest));
  }
  return {};
}

std::string FunctionDirectory::damage(std::string_view name) const {
  auto it = broken_.find(name);
  return it == broken_.end() ? std::string() : it->second;
}

Error FunctionDirectory::unavailable(std::string_view name) const {
  if (auto it = broken_.find(name); it != broken_.end()) {
    return make_error("function_broken", fmt::format("function '{}' cannot be served: {}. Deploy it again (fnctl deploy) "
                                                     "or delete it", name, it->second), 500);
  }
  return not_found(name);
}

Error FunctionDirectory::not_found(std::string_view name) const {
  auto candidates = names();
  auto suggestion = closest_name(name, candidates);
  std::string message = fmt::format("no function named '{}'", name);
  if (suggestion) message += fmt::format("; did you mean '{}'?", *suggestion);
  else message += "; deploy it with fnctl deploy, or list functions with fnctl list";
  return make_error("function_not_found", std::move(message), 404);
}

}  // namespace fnd::scheduler
