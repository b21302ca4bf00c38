// Compiled by the test "build: another module's public header can be included": the scheduler
// module reaches the runtime's interface.
#include "runtime/instance.hpp"

int fnd_check_public_header() { return static_cast<int>(fnd::runtime::InstanceState::ready); }
