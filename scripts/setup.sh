#!/bin/sh
# Installs what fnd needs to build, run and test on Debian 12, and fixes the host's cgroup
# layout for crun when needed. Safe to run again. Needs root (or sudo).
set -eu

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

PACKAGES="build-essential cmake ninja-build pkg-config ccache git
  libboost1.81-dev libboost-json1.81-dev libssl-dev libsqlite3-dev libyaml-cpp-dev
  libspdlog-dev libfmt-dev libcurl4-openssl-dev libarchive-dev libcli11-dev catch2 librdkafka-dev
  libsystemd-dev crun runc python3 nodejs curl sqlite3 procps tzdata kcat clang-tidy
  clang libclang-rt-14-dev"
# clang and libclang-rt-14-dev (libFuzzer, ASan and UBSan runtimes; clang only recommends it) are
# for tests/fuzz/run.sh; the daemon itself builds with GCC.

missing=""
for p in $PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "setup: installing$missing"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  # shellcheck disable=SC2086
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
fi

# Members of fnd-admin administer fnd through its local socket (/run/fnd/api.sock) without a token.
if ! getent group fnd-admin >/dev/null; then
  echo "setup: creating the group fnd-admin (its members administer fnd through its local socket)"
  $SUDO groupadd --system fnd-admin
fi

# crun 1.8 refuses hosts whose cgroup v2 mount (hybrid mode) carries controllers that v1
# lacks, e.g. hugetlb. Mounting a v1 hugetlb hierarchy makes crun work; pure v2 hosts need nothing.
if [ -d /sys/fs/cgroup/unified ] && grep -qw hugetlb /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null \
   && ! grep -q ' /sys/fs/cgroup/hugetlb ' /proc/mounts; then
  echo "setup: cgroup hybrid mode: mounting a v1 hugetlb hierarchy so crun can run"
  $SUDO mkdir -p /sys/fs/cgroup/hugetlb 2>/dev/null || $SUDO mount -o remount,rw /sys/fs/cgroup
  $SUDO mkdir -p /sys/fs/cgroup/hugetlb
  $SUDO mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb
fi
