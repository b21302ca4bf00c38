// Parsing JSON payloads (event data, event documents) with one set of limits.
#pragma once

#include <boost/json/value.hpp>
#include <cstddef>
#include <string_view>

#include "core/error.hpp"

namespace fnd::eventing::internal {

// Boost.JSON's default of 32 levels is too shallow for real payloads; its parser keeps its own
// stack, so a deeper limit costs no native stack.
inline constexpr std::size_t kMaxJsonDepth = 256;

// `what` names the document in the error ("event", "batch"): kInvalidEvent, 400.
Result<boost::json::value> parse_json_text(std::string_view text, std::string_view what);
bool is_json_text(std::string_view text);

}  // namespace fnd::eventing::internal
