// Where the runtime gets the values of the secrets a function's spec names (spec field
// `secrets`), to deliver them as files /run/secrets/NAME/KEY on a tmpfs inside each instance.
// The composition root implements it over the encrypted secret store; tests use a map.
//
// The runtime calls read() on its own thread each time an instance of such a function starts
// (plain, pre-created or a stem cell taking the function), never caches a value, writes values
// nowhere but the instance's tmpfs and overwrites its copies once they are there. It never logs
// a value, and no error it makes holds one.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "core/error.hpp"

namespace fnd::runtime {

class SecretSource {
 public:
  virtual ~SecretSource() = default;

  // The secret's keys and their values (bytes). Errors: any Error whose message says why in one
  // sentence (for a secret that does not exist: how to create it); the runtime fails the start
  // with it, naming the function. May block briefly (a database read): control-plane speed.
  virtual Result<std::map<std::string, std::string>> read(std::string_view name) = 0;
};

}  // namespace fnd::runtime
