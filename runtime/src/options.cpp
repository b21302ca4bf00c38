#include "runtime/options.hpp"

namespace fnd::runtime {

void bind_options(config::OptionBinder& binder, RuntimeOptions& options) {
  binder.text("runtime.oci_runtime", options.oci_runtime, "FND_OCI_RUNTIME");
  binder.text("runtime.runtimes_dir", options.runtimes_dir, "FND_RUNTIMES_DIR");
  binder.text("runtime.python", options.python);
  binder.text("runtime.node", options.node);
  binder.duration("runtime.start_timeout", options.start_timeout);
  binder.duration("runtime.stop_timeout", options.stop_timeout);
  binder.text("runtime.rootfs_dir", options.rootfs_dir);
  binder.count("runtime.subuid_base", options.subuid_base, 4294967294u);
  binder.count("runtime.subuid_count", options.subuid_count, 4294967294u);
}

}  // namespace fnd::runtime
