#!/usr/bin/env bash
# Builds the fuzzers with clang (-fsanitize=fuzzer,address,undefined) in build-fuzz/ and runs
# each for SECONDS (default 30): the model loader over tests/fuzz/corpus, the model description
# file parser over tests/fuzz/corpus_layers, the PNG and JPEG decoders over
# tests/fuzz/corpus_images. New interesting inputs go to build-fuzz/corpus*
# (the committed seeds are never modified); a crash fails the script and leaves the input in
# build-fuzz/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-30}"
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=Release -DKILN_FUZZ=ON \
  -DCMAKE_CXX_COMPILER=clang++ >/dev/null
ninja -C build-fuzz kiln_model_fuzzer kiln_layers_fuzzer kiln_image_fuzzer
mkdir -p build-fuzz/corpus build-fuzz/corpus_layers build-fuzz/corpus_images
cd build-fuzz
bin/kiln_model_fuzzer -max_total_time="$seconds" -max_len=8192 -print_final_stats=1 \
  -artifact_prefix=./ corpus ../tests/fuzz/corpus 2>&1 | tail -n 15
bin/kiln_layers_fuzzer -max_total_time="$seconds" -max_len=4096 -print_final_stats=1 \
  -artifact_prefix=./ corpus_layers ../tests/fuzz/corpus_layers 2>&1 | tail -n 15
bin/kiln_image_fuzzer -max_total_time="$seconds" -max_len=16384 -print_final_stats=1 \
  -artifact_prefix=./ corpus_images ../tests/fuzz/corpus_images 2>&1 | tail -n 15
