// Human units in specs and config: sizes ("128Mi", "1G", "4096") and durations ("250ms", "30s", "5m").
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/error.hpp"

namespace fnd {

// Bytes from "123", "64k", "64Ki", "128M", "128Mi", "1G", "1Gi" (k/M/G are powers of 1000,
// Ki/Mi/Gi of 1024, as in Kubernetes quantities).
Result<uint64_t> parse_bytes(std::string_view text);
// Durations from "250ms", "30s", "5m", "1h", "1m30s"; a bare number is seconds.
Result<std::chrono::milliseconds> parse_duration(std::string_view text);

// For people: "128Mi", "1.5Gi", "512"; sizes that are no tenth of a unit are rounded ("95.4Mi").
std::string format_bytes(uint64_t bytes);
// "5m", "30s", "250ms", "1m30s", "1.234s": exact, parse_duration reads it back as the same value.
std::string format_duration(std::chrono::milliseconds d);

}  // namespace fnd
