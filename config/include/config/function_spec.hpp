// A function's spec: what the user deploys (fn.yaml, or JSON through the API). Immutable once a
// revision holds it. Parsing validates every field and names the offending one in its error.
#pragma once

#include <boost/json/fwd.hpp>
#include <chrono>
#include <cstdint>
#include <algorithm>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace fnd::config {

enum class RuntimeKind { python3, node, shell, binary };

std::string_view to_string(RuntimeKind kind);

struct ResourceLimits {
  uint64_t memory_bytes = 128ULL << 20;
  double cpu = 0;         // cores; 0 = no CPU limit
  uint32_t pids = 64;

  bool operator==(const ResourceLimits&) const = default;
};

struct ScaleSettings {
  uint32_t concurrency = 10;  // hard cap: requests at a time per instance
  double target = 0;          // soft: requests in flight per instance the autoscaler aims for; 0 = 70% of concurrency
  uint32_t min = 0;           // instances kept running even when idle
  uint32_t max = 10;          // instances per revision
  std::chrono::milliseconds keep_alive = std::chrono::minutes(5);

  bool operator==(const ScaleSettings&) const = default;
  double effective_target() const { return target > 0 ? target : std::max(0.7 * concurrency, 0.1); }
};

// Who may invoke the function through the gateway: anyone who reaches it, or only callers with a
// token that allows invoking it (the token never reaches the function).
enum class Access { public_, token };
std::string_view to_string(Access access);

// The seccomp profile of the function's instances: fnd's default one, or none at all. Only an
// admin may deploy `unconfined` (the gateway checks that).
enum class SeccompProfile { default_, unconfined };
std::string_view to_string(SeccompProfile profile);

inline constexpr size_t kMaxSecretsPerFunction = 32;

struct FunctionSpec {
  std::string name;
  RuntimeKind runtime = RuntimeKind::python3;
  std::string handler;
  std::string code;  // "sha256:<hex>" of the code archive, empty until uploaded
  std::map<std::string, std::string> env;
  std::chrono::milliseconds timeout = std::chrono::seconds(30);
  ResourceLimits resources;
  ScaleSettings scale;
  Access access = Access::public_;
  // public: false: the gateway refuses calls from outside (403 function_not_public); only other
  // functions reach it, through the mesh.
  bool is_public = true;
  std::vector<std::string> secrets;  // names of secrets delivered as files under /run/secrets/NAME/
  SeccompProfile seccomp = SeccompProfile::default_;

  bool operator==(const FunctionSpec&) const = default;
};

// What this host can run. Checked when a spec is deployed, not when a stored one is read, so that
// a smaller host still loads (and reports) what a bigger one stored.
struct SpecLimits {
  uint64_t host_memory_bytes = 0;    // 0 = not checked
  uint64_t memory_budget_bytes = 0;  // scheduler.memory_budget; 0 = not checked
  uint32_t max_scale = 1000;         // limits.max_scale
};
// 422 invalid_spec naming the field when the spec asks for more than `limits` allow.
Status check_spec_limits(const FunctionSpec& spec, const SpecLimits& limits);

// From the API's JSON body. Unknown fields and bad values are 422 errors naming the field.
Result<FunctionSpec> spec_from_json(const boost::json::value& json);
// From fn.yaml text (same fields and checks as JSON).
Result<FunctionSpec> spec_from_yaml(std::string_view yaml_text);
// Canonical JSON form (sizes and durations as human units).
boost::json::object spec_to_json(const FunctionSpec& spec);
std::string spec_to_json_text(const FunctionSpec& spec);

}  // namespace fnd::config
