// A function spec as the API takes it (PUT /api/v1/functions/NAME, a JSON body). A spec that is
// accepted survives its canonical form: spec_to_json, as the store keeps it and fnctl sends it,
// reads back as the same spec.
#include <boost/json.hpp>
#include <fmt/format.h>

#include "config/function_spec.hpp"
#include "core/json.hpp"
#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto json = fnd::parse_json(fnd::fuzz::as_text(data, size));
  if (!json) return 0;
  auto spec = fnd::config::spec_from_json(*json);
  if (!spec) {
    FND_FUZZ_CHECK(spec.error().http_status == 422 && !spec.error().message.empty(), spec.error().message);
    return 0;
  }
  (void)fnd::config::check_spec_limits(*spec, fnd::config::SpecLimits{8ULL << 30, 6ULL << 30, 1000});
  const std::string canonical = fnd::config::spec_to_json_text(*spec);
  auto reread_json = fnd::parse_json(canonical);
  FND_FUZZ_CHECK(reread_json.ok(), canonical);
  auto reread = fnd::config::spec_from_json(*reread_json);
  FND_FUZZ_CHECK(reread.ok(), fmt::format("{} -> {}", canonical, reread ? "" : reread.error().message));
  FND_FUZZ_CHECK(*reread == *spec, fmt::format("{} reads back as {}", canonical, fnd::config::spec_to_json_text(*reread)));
  return 0;
}
