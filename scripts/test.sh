#!/bin/sh
# Installs what fnd needs, builds everything and runs the whole test suite: unit tests and
# integration tests (the real fnd with real crun containers; they need root).
set -eu
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh
if [ "$(id -u)" -ne 0 ]; then
  exec sudo ctest --test-dir build --output-on-failure --parallel "$(nproc)" --timeout 600
fi
exec ctest --test-dir build --output-on-failure --parallel "$(nproc)" --timeout 600
