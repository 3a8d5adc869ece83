#!/usr/bin/env bash
# README's test command: install what is missing, build, run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
# The end-to-end test trains on a real MNIST subset: fetch (sha256-verified) and require it.
scripts/fetch_data.sh mnist
export KILN_REQUIRE_DATA=1
ctest --test-dir build --output-on-failure -j2
# The model-loader fuzzer (clang, ASan, UBSan), a short bounded run over the committed corpus.
scripts/fuzz.sh 30
