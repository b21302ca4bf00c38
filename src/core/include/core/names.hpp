// Names users give to things (functions, later services and brokers).
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/error.hpp"

namespace fnd {

// A function name is a DNS label: 1-63 chars of [a-z0-9-], starting and ending alphanumeric.
// It appears in URLs, container ids and cgroup paths, so nothing else is allowed.
Status validate_name(std::string_view kind, std::string_view name);

// The candidate closest to `name` by edit distance, if it is close enough to be a likely typo.
std::optional<std::string> closest_name(std::string_view name, std::span<const std::string> candidates);

}  // namespace fnd
