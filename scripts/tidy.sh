#!/bin/sh
# Runs clang-tidy (.clang-tidy at the root) over the project's C++ sources (not the tests, whose
# Catch2 macros it misreads): all of them, or those
# a change touched (`scripts/tidy.sh --changed BASE`: files differing from commit BASE). Needs a
# build dir with compile_commands.json (default build/; BUILD_DIR overrides). Exit 1 on any
# warning (they are errors).
set -eu
cd "$(dirname "$0")/.."
BUILD_DIR="${BUILD_DIR:-build}"
command -v clang-tidy >/dev/null || { echo "tidy: clang-tidy is not installed (apt-get install clang-tidy)"; exit 1; }
[ -f "$BUILD_DIR/compile_commands.json" ] || { echo "tidy: no $BUILD_DIR/compile_commands.json: build first"; exit 1; }
if [ "${1:-}" = "--changed" ]; then
  base="${2:-HEAD~1}"
  files=$(git diff --name-only --diff-filter=d "$base" -- '*.cpp' | grep -vE '^(bench|tests)/' || true)
else
  files=$(git ls-files '*.cpp' | grep -vE '^(bench|tests)/')
fi
# Only files the build compiles (a file outside compile_commands.json has no flags to check with).
files=$(for f in $files; do grep -q "\"$(pwd)/$f\"" "$BUILD_DIR/compile_commands.json" && echo "$f"; done || true)
[ -n "$files" ] || { echo "tidy: no C++ source to check"; exit 0; }
count=$(echo "$files" | wc -l)
echo "tidy: checking $count files"
out=$(mktemp)
echo "$files" | xargs -P "$(nproc)" -n 4 clang-tidy -p "$BUILD_DIR" --quiet > "$out" 2>/dev/null || true
if grep -qE "(warning|error): " "$out"; then
  grep -E -A3 "(warning|error): " "$out"
  echo "tidy: $(grep -cE '(warning|error): ' "$out") findings"
  rm -f "$out"
  exit 1
fi
rm -f "$out"
echo "tidy: clean"
