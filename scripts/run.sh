#!/bin/sh
# Installs what fnd needs, builds it, installs fnd and fnctl under /usr/local and runs fnd in the
# foreground on its embedded defaults (127.0.0.1:8080, state in /var/lib/fnd, crun). Ctrl-C stops
# it and every container it started. Extra arguments go to fnd (e.g. --listen 127.0.0.1:9090).
set -eu
cd "$(dirname "$0")/.."
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
./scripts/setup.sh
./scripts/build.sh fnd fnctl
$SUDO cmake --install build --prefix /usr/local >/dev/null
echo "fnd and fnctl installed in /usr/local/bin; starting fnd (Ctrl-C to stop)"
exec $SUDO /usr/local/bin/fnd "$@"
