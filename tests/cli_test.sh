#!/usr/bin/env bash
# Smoke tests of the `kiln` command line: outputs users rely on, and clear errors with exit code 2.
set -u
kiln="$1"
fail=0
check() {  # check NAME EXPECTED_EXIT GREP_PATTERN -- ARGS...
  local name="$1" want="$2" pattern="$3"
  shift 4
  local out
  out=$("$kiln" "$@" 2>&1)
  local got=$?
  if [[ $got -ne $want ]] || ! grep -q -- "$pattern" <<<"$out"; then
    echo "FAIL $name: exit $got (want $want), output:"
    echo "$out" | head -20
    fail=1
  else
    echo "ok   $name"
  fi
}
check summary 0 "^Total params: 243,786$" -- summary --model mnist-cnn
check summary_row 0 "conv2d_1 (Conv2D) *(None, 11, 11, 64) *36,928" -- summary --model mnist-cnn
check dump_text 0 "FusedConv2D" -- dump --model mnist-cnn --graph train --stage fuse
check dump_dot 0 "digraph" -- dump --model mnist-dnn --format dot
check dump_memory 0 "# arena" -- dump --model mnist-dnn --graph train --stage memory
check dump_llvm 0 "define void @k0_FusedConv2DMaxPool_conv_pool" -- dump --model mnist-cnn --graph train --stage llvm
check gradcheck 0 "^PASS" -- gradcheck --model mnist-dnn
check predict 0 "predicted class" -- predict --model mnist-dnn
check bench_json 0 '"jit_train_images_per_second"' -- bench --model mnist-dnn --batch 8 --repeats 1 --json
# bench --profile and --vs-torch (issue 5). PyTorch is optional: its check runs only where
# /usr/bin/python3 can import torch (scripts/setup.sh --torch).
check bench_profile_json 0 '"peak_gflops"' -- \
  bench --model mnist-dnn --batch 8 --repeats 1 --profile --json
check bench_scaling_json 0 '"thread_scaling"' -- \
  bench --model mnist-dnn --batch 8 --repeats 1 --scaling --json
check vs_torch_model 2 "supports mnist-cnn, fashion-cnn and the zoo models" -- \
  bench --model mnist-dnn --vs-torch
check bench_zoo_json 0 '"roofline_ratio"' -- bench --zoo --model zoo-dense --batch 8 --repeats 1 --json
check bench_zoo_text 0 'zoo-lenet' -- bench --zoo --model zoo-lenet --batch 4 --repeats 1
check bench_zoo_unknown 1 "unknown model 'nope'" -- bench --zoo --model nope --repeats 1
check compare_agrees 0 'all .* kernels agree' -- compare --model zoo-resnet --batch 4
check compare_json 0 '"agree": true' -- compare --model zoo-lenet --batch 4 --json
check vs_torch_script 2 "no such file" -- bench --vs-torch --torch_script /nonexistent/torch_peer.py
if /usr/bin/python3 -c "import torch" >/dev/null 2>&1; then
  check vs_torch_json 0 '"torch_train_images_per_second"' -- \
    bench --model mnist-cnn --batch 8 --repeats 1 --vs-torch --json
else
  echo "skip vs_torch_json: /usr/bin/python3 cannot import torch (scripts/setup.sh --torch)"
fi
check unknown_model 1 "unknown model 'nope'" -- summary --model nope
check bad_batch 2 "batch must be positive" -- train --batch -5
check bad_stage 2 "unknown --stage" -- dump --stage bogus
check bad_command 2 "unknown command" -- frobnicate
# viz (issue 7): PNG pictures, written to a temporary folder. tests/data/seven.png is a 28x28
# grayscale digit; checks that need MNIST run where it is cached (or KILN_REQUIRE_DATA=1).
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
seven="$(dirname "$0")/data/seven.png"
# Model description files (.layers): the examples, a dump read back, errors with line:column.
models="$(dirname "$0")/../examples/models"
check layers_summary 0 "^Total params: 693,962$" -- summary --model "$models/experiment.layers"
check layers_list_form 0 'Model: "no-bias"' -- summary --model "$models/no_bias.layers"
"$kiln" dump --format layers --model mnist-cnn >"$tmp/seed.layers"
check layers_dump_roundtrip 0 "^Total params: 243,786$" -- summary --model "$tmp/seed.layers"
check layers_dump_saved 0 "^Dense(10, activation='softmax', name='dense_1')$" -- \
  dump --format layers --model "$tmp/seed.layers"
check layers_dump_branches 1 "layer 'add' (Add) has no layers-form line" -- \
  dump --format layers --model zoo-resnet
printf 'Input(shape=(28, 28, 1))\nConv2D(32, (3, 3), activaton="relu")\n' >"$tmp/bad.layers"
check layers_bad_keyword 2 "bad.layers:2:20: Conv2D has no argument 'activaton'" -- \
  summary --model "$tmp/bad.layers"
printf 'Input(shape=(28, 28, 1))\nConv2D(8, 3)\nDense(10)\n' >"$tmp/shape.layers"
check layers_bad_shape 2 "shape.layers:3: layer 'dense' (Dense) on input (None, 26, 26, 8)" -- \
  summary --model "$tmp/shape.layers"
check layers_missing 1 "cannot open" -- summary --model "$tmp/none.layers"
check viz_convolve 0 "filtered 26x26, pooled 13x13" -- \
  viz convolve --image "$seven" --kernel vertical --out "$tmp/c.png"
check viz_convolve_values 0 "filtered 25x25$" -- \
  viz convolve --image "$seven" --kernel "1,1,1,1;1,1,1,1;1,1,1,1;1,1,1,1" --pool 0 \
  --out "$tmp/c4.png"
check viz_filters 0 "wrote .*/f.png" -- \
  viz filters --model mnist-cnn --layer conv2d --out "$tmp/f.png"
check viz_filters_deep 0 "wrote" -- \
  viz filters --model mnist-cnn --layer conv2d_1 --channels 0,5 --out "$tmp/f1.png"
check predict_png 0 "class probabilities for .*seven.png" -- \
  predict --model mnist-cnn --image "$seven"
check predict_colour_png 2 "colour (RGB) image; expected a grayscale" -- \
  predict --model mnist-cnn --image "$tmp/f.png"
check viz_bad_kernel 2 "row 2 has 2 values but row 1 has 3" -- \
  viz convolve --image "$seven" --kernel "1,0,1;1,0" --out "$tmp/x.png"
check viz_unknown_kernel 2 "unknown kernel name" -- \
  viz convolve --image "$seven" --kernel sobel --out "$tmp/x.png"
check viz_bad_pool 2 "pool must be >= 0" -- \
  viz convolve --image "$seven" --pool -1 --out "$tmp/x.png"
check viz_not_png 2 "not a PNG file" -- viz convolve --image "$0" --out "$tmp/x.png"
check viz_no_out 2 "out FILE.png is required" -- viz filters --model mnist-cnn
check viz_not_conv 2 "not Conv2D; conv layers: conv2d, conv2d_1" -- \
  viz filters --model mnist-cnn --layer dense --out "$tmp/x.png"
check viz_no_conv 2 "has no Conv2D layers" -- viz filters --model mnist-dnn --out "$tmp/x.png"
check viz_bad_channel 2 "channel 64 out of range" -- \
  viz filters --model mnist-cnn --channels 64 --out "$tmp/x.png"
check viz_bad_index 2 "bad --index '0,x'" -- viz activations --index 0,x --out "$tmp/x.png"
check viz_unknown 2 "unknown viz 'bogus'" -- viz bogus
check viz_missing 2 "say what to draw" -- viz
check viz_extra_arg 2 "unexpected argument 'more'" -- viz filters more --out "$tmp/x.png"
check predict_bad_index 2 "expected mnist:INDEX" -- predict --image mnist:x
check dump_render_needs_dot 2 "render needs --format dot" -- dump --render svg
check dump_render_format 2 "unknown --render 'gif'" -- dump --format dot --render gif
if command -v dot >/dev/null 2>&1; then
  check dump_render_svg 0 "" -- dump --model mnist-cnn --graph train --stage fuse --format dot \
    --render svg --out "$tmp/g.svg"
  check dump_render_clusters 0 "cluster" -- dump --model mnist-cnn --graph train --stage fuse \
    --format dot
else
  echo "skip dump_render_svg: Graphviz's dot is not installed"
fi
# export (issue 6, ahead-of-time): the object links into plain C with the system compiler.
check export 0 "exported mnist-dnn for batch 2" -- export --model mnist-dnn --out "$tmp/aot" --batch 2
if command -v cc >/dev/null 2>&1; then
  if (cd "$tmp/aot" && cc -O2 example.c mnist_dnn.o -lm -o example && ./example) 2>&1 |
    grep -q "step 5: loss"; then
    echo "ok   export_example"
  else
    echo "FAIL export_example: example.c did not build or run"
    fail=1
  fi
fi
check export_no_out 2 "out DIR is required" -- export --model mnist-dnn
check export_bad_cpu 2 "unknown target CPU 'bogus'" -- \
  export --model mnist-dnn --out "$tmp/aot" --target-cpu bogus
check export_unwritable 1 "cannot create the output folder /proc/kiln" -- \
  export --model mnist-dnn --out /proc/kiln/aot
check export_unknown_model 1 "unknown model 'nope'" -- export --model nope --out "$tmp/aot"
check export_big_batch 2 "bytes of static storage" -- \
  export --model mnist-cnn --out "$tmp/aot" --batch 100000
mnist_labels="${KILN_DATA:-${XDG_CACHE_HOME:-$HOME/.cache}/kiln}/mnist/t10k-labels-idx1-ubyte"
if [[ -f "$mnist_labels" || "${KILN_REQUIRE_DATA:-}" == 1 ]]; then
  check predict_mnist 0 "mnist test image 0 (label 7)" -- predict --model mnist-cnn --image mnist:0
  check predict_mnist_range 2 "index out of range; the mnist test set has 10000 images" -- \
    predict --model mnist-cnn --image mnist:10000
  check viz_convolve_mnist 0 "filtered 26x26" -- \
    viz convolve --image mnist:0 --kernel laplacian --out "$tmp/cm.png"
  check viz_activations 0 "wrote" -- viz activations --model mnist-cnn --data mnist --index 0,7 \
    --channels 0,1 --out "$tmp/a.png"
  check viz_activations_range 2 "index 10000 out of range" -- \
    viz activations --model mnist-cnn --index 0,10000 --out "$tmp/x.png"
  check viz_activations_channel 2 "channel 64 out of range" -- \
    viz activations --model mnist-cnn --index 0 --channels 64 --out "$tmp/x.png"
  check train_plot 0 "Wrote training curves" -- train --model mnist-dnn --limit 256 \
    --test_limit 256 --epochs 2 --backend interpreter --plot "$tmp/curves.png"
  # Saved models and checkpoints (issue 6): train and save, then every command on the file.
  # The accuracy `kiln train` reports is what `kiln evaluate` gets from the file, on both backends.
  trained=$("$kiln" train --model mnist-cnn --limit 512 --test_limit 500 --epochs 2 --batch 32 \
    --save "$tmp/m.kiln" --checkpoint-dir "$tmp/ck" --json | tail -1 |
    grep -o '"test_accuracy": [0-9.]*')
  [[ -n "$trained" ]] || { echo "FAIL train_save_accuracy: no test_accuracy"; fail=1; }
  check train_save 0 "test_accuracy\": 0\." -- train --model mnist-cnn --limit 64 --epochs 1 \
    --test_limit 64 --save "$tmp/small.kiln" --json
  for backend in jit interpreter; do
    check "evaluate_saved_$backend" 0 "$trained" -- \
      evaluate --model "$tmp/m.kiln" --test_limit 500 --backend "$backend" --json
  done
  check summary_saved 0 "^Total params: 243,786$" -- summary --model "$tmp/m.kiln"
  check dump_saved 0 "FusedConv2D" -- dump --model "$tmp/m.kiln" --graph train --stage fuse
  check predict_saved 0 "predicted class" -- predict --model "$tmp/m.kiln" --image mnist:0
  check export_saved 0 "exported .* training with adam" -- \
    export --model "$tmp/m.kiln" --out "$tmp/aot_saved" --batch 4
  check bench_saved 0 '"jit_train_images_per_second"' -- \
    bench --model "$tmp/m.kiln" --batch 8 --repeats 1 --json
  check resume 0 '"epochs_run": 3' -- train --resume "$tmp/ck" --epochs 3 --test_limit 500 --json
  check resume_other_arch 2 "checkpoint from a different architecture" -- \
    train --resume "$tmp/ck" --model mnist-dnn --epochs 3
  check resume_other_batch 2 "batch differs from the checkpoint" -- \
    train --resume "$tmp/ck" --batch 16 --epochs 3
  head -c 1000 "$tmp/m.kiln" >"$tmp/cut.kiln"
  check load_truncated 1 "cut.kiln: file is truncated" -- evaluate --model "$tmp/cut.kiln"
  cp "$seven" "$tmp/png.kiln"
  check load_not_model 2 "not a Kiln model file" -- summary --model "$tmp/png.kiln"
else
  echo "skip viz_activations, predict_mnist, train_plot: MNIST is not cached" \
    "(scripts/fetch_data.sh mnist)"
fi
exit $fail
