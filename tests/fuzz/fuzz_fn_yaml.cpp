// A function spec as fnctl reads it from fn.yaml (YAML turned into JSON, then the JSON checks).
// An accepted spec survives the trip fnctl makes with it: its canonical JSON, as sent to the API,
// reads back as the same spec.
#include <boost/json.hpp>
#include <fmt/format.h>

#include "config/function_spec.hpp"
#include "core/json.hpp"
#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto spec = fnd::config::spec_from_yaml(fnd::fuzz::as_text(data, size));
  if (!spec) {
    FND_FUZZ_CHECK(!spec.error().message.empty(), "an error without a message");
    return 0;
  }
  const std::string canonical = fnd::config::spec_to_json_text(*spec);
  auto reread_json = fnd::parse_json(canonical);
  FND_FUZZ_CHECK(reread_json.ok(), canonical);
  auto reread = fnd::config::spec_from_json(*reread_json);
  FND_FUZZ_CHECK(reread.ok(), fmt::format("{} -> {}", canonical, reread ? "" : reread.error().message));
  FND_FUZZ_CHECK(*reread == *spec, fmt::format("{} reads back as {}", canonical, fnd::config::spec_to_json_text(*reread)));
  return 0;
}
