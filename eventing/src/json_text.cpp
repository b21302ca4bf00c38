#include "json_text.hpp"

#include <fmt/format.h>

#include <boost/json.hpp>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "eventing/cloud_event.hpp"

namespace fnd::eventing::internal {

namespace {

boost::json::parse_options options() {
  boost::json::parse_options options;
  options.max_depth = kMaxJsonDepth;
  return options;
}

}  // namespace

Result<boost::json::value> parse_json_text(std::string_view text, std::string_view what) {
  boost::system::error_code ec;
  boost::json::value value = boost::json::parse(text, ec, boost::json::storage_ptr(), options());
  if (ec)
    return make_error(std::string(kInvalidEvent), fmt::format("the {} is not valid JSON: {}", what, ec.message()), 400);
  return value;
}

bool is_json_text(std::string_view text) {
  boost::system::error_code ec;
  boost::json::parser parser(boost::json::storage_ptr(), options());
  parser.write(text, ec);
  return !ec;
}

}  // namespace fnd::eventing::internal
