#!/bin/sh
# Configures and builds fnd into build/ (ccache and Ninja when present). Targets as arguments;
# FND_CMAKE_ARGS adds configure options (e.g. -DFND_PCH=OFF).
set -eu
cd "$(dirname "$0")/.."
GENERATOR=""
command -v ninja >/dev/null 2>&1 && GENERATOR="-G Ninja"
if [ ! -f build/CMakeCache.txt ] || [ -n "${FND_CMAKE_ARGS:-}" ]; then
  # shellcheck disable=SC2086
  cmake -S . -B build $GENERATOR -DCMAKE_BUILD_TYPE=RelWithDebInfo ${FND_CMAKE_ARGS:-}
fi
cmake --build build --parallel "$(nproc)" ${1:+--target "$@"}
