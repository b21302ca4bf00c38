#include "core/json.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>

namespace fnd {

std::string error_body(const Error& error) {
  boost::json::object inner{{"code", error.code}, {"message", error.message}};
  return boost::json::serialize(boost::json::object{{"error", std::move(inner)}});
}

Result<boost::json::value> parse_json(std::string_view text) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  if (ec) return make_error("invalid_json", fmt::format("request body is not valid JSON: {}", ec.message()), 400);
  return v;
}

}  // namespace fnd
