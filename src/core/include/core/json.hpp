// JSON helpers shared by the API and the CLI-facing code. Boost.JSON values stay out of module
// interfaces except where JSON is the contract (specs, API bodies).
#pragma once

#include <boost/json/fwd.hpp>
#include <string>
#include <string_view>

#include "core/error.hpp"

namespace fnd {

// {"error":{"code":"...","message":"..."}}
std::string error_body(const Error& error);
// Parses text as JSON; malformed input is a 400 naming the position.
Result<boost::json::value> parse_json(std::string_view text);

}  // namespace fnd
