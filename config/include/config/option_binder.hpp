// Binds the daemon's config keys ("runtime.start_timeout") to fields of the modules' option
// structs. Each module declares its options struct with its defaults in its own public header and
// a bind_options() that binds its keys here; the composition root binds them all, then applies the
// config file and the environment over the defaults. So a default is written once, next to the
// field, and a key no module bound is an error (a typo must not be ignored).
//
// Not thread safe; fields must outlive the binder's use.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace fnd::config {

inline constexpr std::string_view kInvalidConfig = "invalid_config";

class OptionBinder {
 public:
  // `env` (optional) names an environment variable that overrides the file ("FND_LISTEN").
  void text(std::string key, std::string& field, std::string env = {});
  void bytes(std::string key, uint64_t& field);        // "128Mi", "1G", "4096"
  void duration(std::string key, std::chrono::milliseconds& field);  // "250ms", "30s", "5m"
  void count(std::string key, uint32_t& field, uint32_t max);        // 0..max
  void flag(std::string key, bool& field, std::string env = {});      // true/false (also on/off, yes/no)

  // Applies a YAML file over the bound fields. Errors: 400 invalid_config naming the file, the key
  // and the problem (unknown key, bad value, bad YAML); config_unreadable when it cannot be read.
  Status apply_file(const std::string& path);
  // Applies the bound environment variables that are set and not empty.
  Status apply_environment();
  // Every bound key, in binding order.
  std::vector<std::string> keys() const;

 private:
  struct Binding {
    std::string key;
    std::string env;
    std::function<Status(const std::string& text)> set;
  };
  const Binding* find(std::string_view key) const;

  std::vector<Binding> bindings_;
};

// "127.0.0.1:8080" → host and port; port 0 means "pick a free one".
struct ListenAddress {
  std::string host;
  uint16_t port = 0;
};
Result<ListenAddress> parse_listen_address(std::string_view text);

}  // namespace fnd::config
