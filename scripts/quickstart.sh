#!/usr/bin/env bash
# README's main command: install what is missing, build, fetch MNIST, then show the seed CNN's
# summary and train it for one epoch (interpreter backend; the LLVM JIT is the next milestone).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh kiln
scripts/fetch_data.sh mnist
build/bin/kiln summary --model mnist-cnn
build/bin/kiln train --model mnist-cnn --data mnist --epochs 1 --batch 64 --optimizer adam \
  --seed 1 --limit "${KILN_QUICKSTART_LIMIT:-12000}"
