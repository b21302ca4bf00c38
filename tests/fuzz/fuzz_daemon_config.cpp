// The daemon's config file (/etc/fnd/fnd.yaml or --config) applied over every module's options,
// as fnd's main does, and the listen address it names. A file applies the same way twice, and
// whatever it sets stays within the bounds the binder promises.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <string>

#include "config/option_binder.hpp"
#include "fuzz_check.hpp"
#include "options.hpp"

namespace {

// One scratch file for the whole run, removed at exit (apply_file reads a path). Never destroyed:
// the exit handler registered while it is made would otherwise run after its destructor.
const std::string& scratch_file() {
  static const std::string* path = [] {
    std::string dir = std::filesystem::temp_directory_path() / "fnd-fuzz-config-XXXXXX";
    if (!::mkdtemp(dir.data())) std::abort();
    auto* file = new std::string(dir + "/fnd.yaml");
    std::atexit([] { std::filesystem::remove_all(std::filesystem::path(scratch_file()).parent_path()); });
    return file;
  }();
  return *path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = scratch_file();
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  fnd::daemon::Options options;
  fnd::config::OptionBinder binder;
  fnd::daemon::bind_options(binder, options);
  fnd::Status applied = binder.apply_file(path);
  if (!applied) {
    FND_FUZZ_CHECK(applied.error().code == fnd::config::kInvalidConfig && applied.error().message.starts_with(path),
                   applied.error().code + ": " + applied.error().message);
    return 0;
  }
  fnd::daemon::Options again;
  fnd::config::OptionBinder second;
  fnd::daemon::bind_options(second, again);
  FND_FUZZ_CHECK(second.apply_file(path).ok() && again == options, "the same file applied twice differs");
  FND_FUZZ_CHECK(options.gateway.header_timeout.count() >= 0 && options.gateway.max_request_body <= (1ULL << 60),
                 "a value out of its bounds");
  if (auto listen = fnd::config::parse_listen_address(options.gateway.listen)) {
    FND_FUZZ_CHECK(!listen->host.empty(), options.gateway.listen);
  }
  return 0;
}
