// Compiled by the build check "another module's private header cannot be included": even a
// target linking the runtime cannot reach its private bundle.hpp. The build fails, and the test
// checks that it fails for that reason.
#include "bundle.hpp"

int fnd_check_private_header() { return 0; }
