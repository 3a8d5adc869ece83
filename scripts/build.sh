#!/usr/bin/env bash
# Configures and builds Kiln into build/ (Release, Ninja, lld). Usage: scripts/build.sh [targets...]
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -f build/build.ninja ]]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
fi
ninja -C build "$@"
