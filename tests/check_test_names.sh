#!/bin/sh
# CTest splits a test's name at ';' (a CMake list), so a Catch2 TEST_CASE whose name holds one
# becomes two CTest tests that match no test case, run nothing and pass. Refuse such names.
cd "$(dirname "$0")"
if grep -rnE 'TEST_CASE\("[^"]*;' --include='*.cpp' .; then
  echo "test case names above hold ';': CTest would run nothing for them; use ',' instead" >&2
  exit 1
fi
echo "no test case name holds ';'"
