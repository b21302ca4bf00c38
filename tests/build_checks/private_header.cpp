// Compiled by the test "build: another module's private header cannot be included": the
// scheduler module must not reach the runtime's private bundle.hpp. The build fails, and the
// test checks that it fails for that reason.
#include "bundle.hpp"

int fnd_check_private_header() { return 0; }
