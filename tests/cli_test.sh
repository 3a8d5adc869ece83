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
check gradcheck 0 "^PASS" -- gradcheck --model mnist-dnn
check predict 0 "predicted class" -- predict --model mnist-dnn
check bench_json 0 '"jit_train_images_per_second"' -- bench --model mnist-dnn --batch 8 --repeats 1 --json
check unknown_model 1 "unknown model 'nope'" -- summary --model nope
check bad_batch 2 "batch must be positive" -- train --batch -5
check bad_stage 2 "unknown --stage" -- dump --stage bogus
check bad_command 2 "unknown command" -- frobnicate
exit $fail
