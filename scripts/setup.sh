#!/usr/bin/env bash
# Installs the Debian packages Kiln needs, skipping what is already there. Idempotent; uses sudo
# when not root. Optional extras: `scripts/setup.sh --torch` adds PyTorch (the peer for benchmarks).
set -euo pipefail

packages=(cmake ninja-build g++ lld pkg-config llvm-19-dev libzstd-dev libabsl-dev
  libprotobuf-dev protobuf-compiler libgtest-dev libgmock-dev libbenchmark-dev libpng-dev libjpeg-dev
  graphviz nodejs npm ca-certificates clang libclang-rt-dev)
for arg in "$@"; do
  case "$arg" in
    --torch) packages+=(python3-torch) ;;
    *) echo "setup.sh: unknown option '$arg'" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# The machine image may ship node and npm outside Debian's packages: accept those.
if command -v npm >/dev/null 2>&1; then
  filtered=()
  for p in "${missing[@]}"; do [[ "$p" == nodejs || "$p" == npm ]] || filtered+=("$p"); done
  missing=("${filtered[@]}")
fi

if ((${#missing[@]} == 0)); then
  echo "setup: all packages present"
  exit 0
fi
sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=600 "${missing[@]}"
