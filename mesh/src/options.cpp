#include "mesh/options.hpp"

namespace fnd::mesh {

void bind_options(config::OptionBinder& binder, MeshOptions& options) {
  binder.text("mesh.trust_domain", options.trust_domain, "FND_MESH_TRUST_DOMAIN");
  binder.flag("mesh.authorization", options.authorization, "FND_MESH_AUTHORIZATION");
  binder.bytes("mesh.max_answer_bytes", options.max_answer_bytes);
}

}  // namespace fnd::mesh
