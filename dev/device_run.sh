#!/usr/bin/env bash
# What a device session (the H200 through the `device` tool) runs, in parts that each fit one call's 10 minutes,
# every part bounded by its own timeout so one slow part cannot eat the call, and every log written to $OUT as it
# goes (the output tail of a call is short). Run from the repository root with `.gpu` and `node_modules` carried:
#
#     source .gpu/prelude.sh && bash dev/device_run.sh tests matmul      # call 1: ~5 min
#     source .gpu/prelude.sh && bash dev/device_run.sh generate train    # call 2: ~8 min
#
# Parts:
#   tests     the GPU test files: kernels (both forms where the GPU has subgroups), layers, generation, resume
#   matmul    dev/bench_matmul.ts: every matmul variant at d12's shapes
#   generate  deno task bench:generate (d12 and d48, 1 and 8 samples, transformers beside) and a decode profile
#   train     deno task bench:gpu at B=16 and 64 with PyTorch beside, then d24 and d48
#   attention dev/bench_attention.ts: materialized against flash attention, one layer at d12's shapes
#   large     gpt2 train at llm.c's 0.5M-token batches (-d 524288) on synthetic tokens: d24 at B=32, d36 at B=32,
#             d48 at B=16 (the largest batches the plans fit, with gradient accumulation), one or two steps each
set -uo pipefail
out="${OUT:-/tmp/device_run}"
mkdir -p "$out"
part() { # name, seconds, command…
  local name="$1" seconds="$2"
  shift 2
  echo "== $name (at most ${seconds}s): $*" | tee -a "$out/summary.log"
  local t0=$SECONDS
  timeout "$seconds" "$@" >"$out/$name.log" 2>&1
  local rc=$?
  echo "== $name: exit $rc after $((SECONDS - t0))s" | tee -a "$out/summary.log"
  grep -a -E "passed|failed|FAILED|tok/s|TFLOP|\| " "$out/$name.log" | sed 's/\x1b\[[0-9;]*m//g' | tail -40 >>"$out/summary.log"
}
for which in "$@"; do
  case "$which" in
  tests)
    part tests 240 deno task test tests/gpu tests/layers tests/model/generate_test.ts tests/model/flash_model_test.ts \
      tests/train/resume_test.ts
    ;;
  matmul) part matmul 200 deno run -A dev/bench_matmul.ts --reps 5 ;;
  generate)
    part generate 300 deno run -A dev/bench_generate.ts
    part decode 60 deno run -A dev/bench_decode.ts --model d12 --tokens 512 --profiled 16
    ;;
  train) part train 400 deno task bench:gpu --batches 16,64 --steps 5 ;;
  attention) part attention 120 deno run -A dev/bench_attention.ts --reps 20 ;;
  large)
    data="$out/synthetic"
    mkdir -p "$data"
    deno eval "import { writeShard } from './prepro/shard.ts';
      const n = 1_200_000, t = new Array(n);
      for (let i = 0; i < n; i++) t[i] = (i * 7919 + (i >> 7) * 104729) % 50257;
      await writeShard('$data/train.bin', t);"
    for run in "d24 32 2" "d36 32 1" "d48 16 1"; do
      set -- $run
      part "large_$1" 330 deno run -A cli.ts train -i "$data/train.bin" -e "$1" -b "$2" -t 1024 -d 524288 -x "$3" \
        -v 0 -s 0 -o "" --device gpu
    done
    ;;
  *) echo "unknown part '$which' (tests, matmul, generate, train, attention, large)" >&2 && exit 2 ;;
  esac
done
cat "$out/summary.log"
