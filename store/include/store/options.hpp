// The store module's settings, with their defaults (packaging/fnd.yaml documents each key).
#pragma once

#include <cstdint>

#include "config/option_binder.hpp"

namespace fnd::store {

struct CodeLimits {
  uint64_t max_archive_bytes = 64ULL << 20;    // limits.max_code_archive: a code upload (compressed)
  uint64_t max_unpacked_bytes = 256ULL << 20;  // limits.max_code_unpacked: its files' sizes summed

  bool operator==(const CodeLimits&) const = default;
};

struct StoreOptions {
  CodeLimits code;
  uint64_t log_bytes_per_function = 1ULL << 20;  // logs.max_bytes_per_function: kept in memory per function
  uint64_t disk_reserve = 8ULL << 20;            // limits.disk_reserve: set aside so a delete works on a full disk

  bool operator==(const StoreOptions&) const = default;
};

void bind_options(config::OptionBinder& binder, StoreOptions& options);

}  // namespace fnd::store
