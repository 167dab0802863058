#!/usr/bin/env bash
# What a device session (the H200 through the `device` tool) runs, in parts that each fit one call's 10 minutes,
# every part bounded by its own timeout so one slow part cannot eat the call, and every log written to $OUT as it
# goes (the output tail of a call is short). `.gpu` (30 MiB) and `node_modules` (31+ MiB with playwright-core and
# hyparquet) together pass the 64 MiB a call may carry, so pack node_modules into .gpu first, here:
#
#     tar -cJf .gpu/node_modules.tar.xz node_modules                     # ~4 MiB; redo when deno.json changes
#
# and carry only `.gpu`, unpacking it there:
#
#     source .gpu/prelude.sh && tar -xJf .gpu/node_modules.tar.xz && bash dev/device_run.sh tests matmul    # ~5 min
#     source .gpu/prelude.sh && tar -xJf .gpu/node_modules.tar.xz && bash dev/device_run.sh generate     # ~5 min
#     source .gpu/prelude.sh && tar -xJf .gpu/node_modules.tar.xz && bash dev/device_run.sh train        # ~7 min
#
# Parts:
#   tests     how the GPU rounds to halves (dev/probe_f16_rounding.ts), then the GPU test files: kernels (both forms
#             where the GPU has subgroups, the f16 forms where it has shader-f16), layers, generation, resume
#   matmul    dev/bench_matmul.ts: every matmul variant at d12's shapes
#   generate  dev/bench_generate.ts, d12 and d48 at batch 1 with transformers beside, and a decode profile
#   generate8 the same with --num-samples 8
#   generate16 both with --precision f16 (no transformers: compare with the fp32 rows)
#   train     deno task bench:gpu, d12 at B=16 and 64 with PyTorch beside
#   train16   the same with --precision f16 (no PyTorch)
#   f16math   native f16 matmul arithmetic: the matmul variants (f16 weights, f16 math in runs of 16 and 32, in all
#             three products), then bench:gpu --precision f16 with --f16-math weights and all (no PyTorch)
#   trainlarge d24 at B=16 and d48 at B=8 with PyTorch beside
#   attention dev/bench_attention.ts: materialized against flash attention, one layer at d12's shapes, and the
#             materialized products under matmul variants (bench_attention.ts --matmul-variants)
#   hellaswag transformers' HellaSwag scores of a small random model (tests/testdata/make_hellaswag_reference.py),
#             and dev/bench_hellaswag.ts on the GPU
#   precision dev/validate_precision.ts --control: d12 fp32 vs f16 (and fp32 with flash attention, the noise floor),
#             300 steps of Tiny Shakespeare at T=1024 (carry data/tinyshakespeare too); ~8 min, a call of its own
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
    part f16_rounding 30 deno run -A dev/probe_f16_rounding.ts
    # Four test processes, not one per core: with 16 of them at once, files stalled at their first GPU test (many
    # devices created together on one GPU) until the part's timeout; with 4 the same files pass in ~45 s.
    part tests 240 env DENO_JOBS=4 deno task test tests/gpu tests/layers tests/model/generate_test.ts tests/model/flash_model_test.ts \
      tests/model/f16_model_test.ts tests/train/resume_test.ts
    ;;
  matmul) part matmul 200 deno run -A dev/bench_matmul.ts --reps 5 ;;
  generate)
    part generate 330 deno run -A dev/bench_generate.ts --samples 1
    part decode 60 deno run -A dev/bench_decode.ts --model d12 --tokens 512 --profiled 16
    ;;
  generate8) part generate8 330 deno run -A dev/bench_generate.ts --samples 8 ;;
  generate16) part generate16 240 deno run -A dev/bench_generate.ts --samples 1,8 --precision f16 --no-torch ;;
  train) part train 450 deno task bench:gpu --batches 16,64 --steps 5 --large "" ;;
  train16) part train16 300 deno task bench:gpu --batches 16,64 --steps 5 --large "" --precision f16 --no-torch ;;
  f16math)
    part f16math_matmul 150 deno run -A dev/bench_matmul.ts --reps 5 \
      --variants "exact; exact, f16 weights; exact, f16 math; exact, f16 math, runs of 32; exact, f16 math, one run; exact, f16 math, 128×64 tiles; exact, f16 math in all"
    for math in weights all; do
      part "f16math_$math" 200 deno task bench:gpu --batches 64 --steps 10 --large "" --precision f16 --f16-math "$math" \
        --no-torch
    done
    ;;
  trainlarge) part trainlarge 450 deno task bench:gpu --batches 16 --steps 3 --large d24:16,d48:8 ;;
  attention) part attention 120 deno run -A dev/bench_attention.ts --reps 20 --matmul-variants ;;
  hellaswag)
    # transformers' scores for the eval test (bring back $OUT/hsref: commit it as tests/testdata/hellaswag/hf/),
    # then eval throughput on the GPU
    part hellaswag_reference 120 python3 tests/testdata/make_hellaswag_reference.py \
      --eval tests/testdata/hellaswag/mini_val.bin --out "$out/hsref"
    part hellaswag 240 deno run -A dev/bench_hellaswag.ts --model d12 --model d48 --batch 4,16 --examples 1000 \
      --device gpu
    ;;
  precision)
    part precision 560 deno run -A dev/validate_precision.ts --control --out /tmp/precision --svg "$out/precision_d12.svg" \
      -- -e d12 -b 16 -t 1024 -x 300 -v 25 -m 20 -s 0 -n 0
    ;;
  large)
    data="$out/synthetic"
    mkdir -p "$data"
    deno eval "import { writeShard } from './prepro/shard.ts';
      const n = 1_200_000, t = new Array(n);
      for (let i = 0; i < n; i++) t[i] = (i * 7919 + (i >> 7) * 104729) % 50257;
      await writeShard('$data/train.bin', t);"
    for run in "d24 32 1" "d36 32 1" "d48 16 1"; do
      set -- $run
      part "large_$1" 330 deno run -A cli.ts train -i "$data/train.bin" -e "$1" -b "$2" -t 1024 -d 524288 -x "$3" \
        -v 0 -s 0 -o "" --device gpu
    done
    ;;
  *)
    echo "unknown part '$which' (tests, matmul, generate, generate8, generate16, train, train16, trainlarge," \
      "attention, hellaswag, precision, large)" >&2 && exit 2
    ;;
  esac
done
cat "$out/summary.log"
