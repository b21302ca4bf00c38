// YAML → JSON so that YAML specs go through exactly the JSON validation.
#pragma once

#include <boost/json/fwd.hpp>
#include <string_view>

#include "core/error.hpp"

namespace fnd::config::internal {

// Scalars become numbers or booleans when they read as such, strings otherwise.
Result<boost::json::value> yaml_to_json(std::string_view yaml_text);

}  // namespace fnd::config::internal
