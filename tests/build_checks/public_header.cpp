// Compiled by the build checks: linked with the runtime it includes the runtime's interface (it
// must build); linked with the gateway it must not (the gateway never reaches the runtime).
#include "runtime/instance.hpp"

int fnd_check_public_header() { return static_cast<int>(fnd::runtime::InstanceState::ready); }
