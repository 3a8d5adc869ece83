#!/usr/bin/env bash
# Builds the model-loader fuzzer with clang (-fsanitize=fuzzer,address,undefined) in build-fuzz/
# and runs it over tests/fuzz/corpus for SECONDS (default 30). New interesting inputs go to
# build-fuzz/corpus (the committed seeds are never modified); a crash fails the script and
# leaves the input in build-fuzz/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-30}"
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=Release -DKILN_FUZZ=ON \
  -DCMAKE_CXX_COMPILER=clang++ >/dev/null
ninja -C build-fuzz kiln_model_fuzzer
mkdir -p build-fuzz/corpus
cd build-fuzz
bin/kiln_model_fuzzer -max_total_time="$seconds" -max_len=8192 -print_final_stats=1 \
  -artifact_prefix=./ corpus ../tests/fuzz/corpus 2>&1 | tail -n 15
