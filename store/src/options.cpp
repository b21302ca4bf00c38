#include "store/options.hpp"

namespace fnd::store {

void bind_options(config::OptionBinder& binder, StoreOptions& options) {
  binder.bytes("limits.max_code_archive", options.code.max_archive_bytes);
  binder.bytes("limits.max_code_unpacked", options.code.max_unpacked_bytes);
  binder.bytes("limits.disk_reserve", options.disk_reserve);
  binder.bytes("logs.max_bytes_per_function", options.log_bytes_per_function);
}

}  // namespace fnd::store
