// The mesh's settings, with their defaults (packaging/fnd.yaml documents each key).
#pragma once

#include <cstdint>
#include <string>

#include "config/option_binder.hpp"

namespace fnd::mesh {

struct MeshOptions {
  // mesh.trust_domain: functions' workload identities are spiffe://TRUST_DOMAIN/fn/NAME.
  std::string trust_domain = "fnd.local";
  // mesh.authorization (on/off): on, calls through the mesh (/fn, /svc, proxy mode) are denied
  // unless an authorization rule allows them.
  bool authorization = false;
  // mesh.max_answer_bytes: a service's answer above it is refused (502).
  uint64_t max_answer_bytes = 16ULL << 20;

  bool operator==(const MeshOptions&) const = default;
};

void bind_options(config::OptionBinder& binder, MeshOptions& options);

}  // namespace fnd::mesh
