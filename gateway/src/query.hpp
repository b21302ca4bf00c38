// Query-string parsing for the API, private to the gateway.
#pragma once

#include <map>
#include <string>
#include <string_view>

namespace fnd::gateway::internal {

std::string percent_decode(std::string_view text);
// "a=1&b=x%20y" → {a:1, b:"x y"}; the last value wins.
std::map<std::string, std::string> parse_query(std::string_view query);
bool truthy(std::string_view value);  // "1", "true", "yes"

}  // namespace fnd::gateway::internal
