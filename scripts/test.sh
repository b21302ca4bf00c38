#!/bin/sh
# Installs what fnd needs, builds everything and runs the whole test suite: unit tests,
# integration tests (the real fnd with real crun containers; they need root) and build checks.
# Under CI (CI=true) also without the precompiled header and with clang-tidy.
set -eu
cd "$(dirname "$0")/.."
./scripts/setup.sh
if [ "${CI:-}" = "true" ]; then
  # CI builds without the precompiled header, so a file that does not include what it uses fails,
  # and adds the clang-tidy check of the sources and a 10 s run of every fuzz target to the tests.
  export FND_CMAKE_ARGS="-DFND_PCH=OFF -DFND_LINT=ON -DFND_FUZZ_SMOKE=ON"
fi
./scripts/build.sh
if [ "$(id -u)" -ne 0 ]; then
  exec sudo ctest --test-dir build --output-on-failure --parallel "$(nproc)" --timeout 600
fi
exec ctest --test-dir build --output-on-failure --parallel "$(nproc)" --timeout 600
