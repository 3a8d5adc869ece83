#!/usr/bin/env bash
# README's main command: install what is missing, build, fetch MNIST (sha256-verified), train the
# seed CNN with the LLVM JIT, then compare the JIT with the interpreter on the same model.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh kiln
scripts/fetch_data.sh mnist
build/bin/kiln summary --model mnist-cnn
build/bin/kiln train --model mnist-cnn --data mnist --epochs "${KILN_EPOCHS:-5}" --batch 64 \
  --optimizer adam --seed 1
echo
build/bin/kiln bench --model mnist-cnn --batch 64 --threads 2
