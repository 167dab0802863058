/**
 * Native f16 arithmetic in the tiled matmul (`kernels/_gemm_math_f16.wgsl`, issue 13: `GemmOptions.f16Math`), which
 * only a GPU with `shader-f16` runs (the H200; not llvmpipe, whose f16 forms tests/gpu/kernels_test.ts validates
 * with naga instead):
 * - without `shader-f16` the executor refuses the option in one line (this part runs everywhere);
 * - matmul forward and backward with an f16 weight, "weights" (the products reading the weight) and "all" (the
 *   weight gradient too), runs of 16 and 32 products, operands staged by the GPU's conversion or rounded to nearest
 *   (`STAGE_NEAREST`), on awkward and whole-tile sizes and d12's K = 768: every output within the rounding-error bound
 *   of f16 runs (below), and visibly not float32;
 * - a small GPT-2 with f16 math in every product, 3 AdamW steps against the float32 CPU model.
 */
import { createGpuExecutor, type GpuExecutor } from "../../gpu/executor.ts";
import { getGpuDevice } from "../../gpu/device.ts";
import type { GpuTensor } from "../../gpu/tensor.ts";
import type { F16Math } from "../../gpu/_gemm.ts";
import { f16Copy } from "../../layers/f16_copy.ts";
import { matmul } from "../../layers/matmul.ts";
import { parseModelDescriptor } from "../../model/config.ts";
import { createCpuModel } from "../../model/cpu_model.ts";
import type { GPT2 } from "../../model/gpt2.ts";
import { createGpuModel } from "../../model/gpu_model.ts";
import { loadParameters, resolveModelSource } from "../../model/source.ts";
import { UserError } from "../../util/errors.ts";
import { roundToHalf } from "../../util/f16.ts";
import { assertClose } from "../_assert.ts";
import { rng, uniform } from "../_random.ts";
import { adapterAvailable, poisoned, upload } from "../gpu/_helpers.ts";

const hasF16 = adapterAvailable && (await getGpuDevice()).hasF16;

Deno.test({
  name: "f16 matmul arithmetic: refused in one line without shader-f16, accepted with it",
  ignore: !adapterAvailable,
  fn: async () => {
    let refusal = "";
    try {
      await createGpuExecutor({ matmulF16Math: "weights" });
    } catch (err) {
      if (!(err instanceof UserError)) throw err;
      refusal = err.message;
    }
    if (hasF16 && refusal) throw new Error(`refused on a GPU with shader-f16: ${refusal}`);
    if (!hasF16 && !/needs a GPU with shader-f16/.test(refusal)) throw new Error(`not refused: '${refusal}'`);
    if (refusal.includes("\n")) throw new Error("the refusal is more than one line");
  },
});

/** Float64 Σ_k A[m,k]·B[k,n] and Σ_k |A[m,k]·B[k,n]| for row-major A (M,K) and B given as (N,K) (B[k,n] = w[n,k]). */
function products(a: ArrayLike<number>, w: ArrayLike<number>, M: number, K: number, N: number) {
  const sum = new Float64Array(M * N), abs = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = 0, t = 0;
      for (let k = 0; k < K; k++) {
        const x = a[m * K + k] * w[n * K + k];
        s += x;
        t += Math.abs(x);
      }
      sum[m * N + n] = s;
      abs[m * N + n] = t;
    }
  }
  return { sum, abs };
}

/** (rows, cols) → (cols, rows). */
function transpose(x: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = x[r * cols + c];
  return out;
}

/**
 * Checks `got` (float32, from f16 runs) against the float64 product: a run of L products rounds each input to a half
 * (relative 2^-11, twice) and each of its L partial sums once (the fma rounds a·b + s once), so |error| ≤ (L + 2)·2^-11
 * ·Σ|a·b| to first order; the float32 sum of the runs and subnormal halves (spacing 2^-24, one rounding per product)
 * add at most K·2^-24 more. Returns the largest error as a share of that bound, and the largest absolute error.
 */
function checkRuns(
  got: Float32Array,
  want: { sum: Float64Array; abs: Float64Array },
  L: number,
  K: number,
) {
  let share = 0, largest = 0;
  const roundings = L + 2;
  for (let i = 0; i < got.length; i++) {
    const bound = roundings * 2 ** -11 * want.abs[i] * (1 + 1e-3) + K * 2 ** -24 + 1e-6 * Math.abs(want.sum[i]);
    const err = Math.abs(got[i] - want.sum[i]);
    if (!(err <= bound)) throw new Error(`output ${i}: ${got[i]} vs ${want.sum[i]} (error ${err}, bound ${bound})`);
    share = Math.max(share, err / bound);
    largest = Math.max(largest, err);
  }
  return { share, largest };
}

/** An f16 tensor of n halves holding `values` rounded (written by f16Copy). */
async function halves(ops: GpuExecutor, values: Float32Array): Promise<GpuTensor> {
  const n = values.length;
  const arena = await ops.runtime.allocate("test f16", "f16", n + 8 + (n % 2));
  const t = { arena, offset: 4, length: n };
  ops.run(f16Copy.forward, { out: t, inp: await upload(ops, values) }, { N: n });
  return t;
}

const SHAPES: [number, number, number][] = [
  [130, 77, 200], // nothing a multiple of the tile or of 16: the bounds-checked kernel, a ragged last run
  [256, 128, 128], // whole tiles: the EXACT kernel
  [256, 768, 256], // d12's K = 768: 48 runs of 16 into float32
];

/**
 * f16 math, runs of 16·run products, staged operands rounded by the conversion or by `_half_bits` (nearest), 128×128
 * or (narrow) 128×64 output tiles.
 */
const CONFIGS: { mode: F16Math; run: number; nearest: boolean; narrow?: boolean }[] = [
  { mode: "weights", run: 1, nearest: false },
  { mode: "weights", run: 2, nearest: false },
  { mode: "weights", run: 1, nearest: true },
  { mode: "weights", run: 1, nearest: false, narrow: true },
  { mode: "all", run: 1, nearest: false },
  { mode: "all", run: 2, nearest: true },
];

for (const { mode, run, nearest, narrow = false } of CONFIGS) {
  // The tiled kernel everywhere (no small-output kernel), and no split-K, so K is one slice.
  let executor: Promise<GpuExecutor> | undefined;
  const staging = `${nearest ? ", staged to nearest" : ""}${narrow ? ", 128×64 tiles" : ""}`;
  for (const [N, C, OC] of SHAPES) {
    Deno.test({
      name: `gpu matmul N=${N} C=${C} OC=${OC}, f16 math "${mode}", runs of ${16 * run}${staging}: within the bound`,
      ignore: !hasF16,
      fn: async () => {
        executor ??= createGpuExecutor({
          matmulF16Math: mode,
          matmulF16Run: run,
          matmulF16StageNearest: nearest,
          matmulF16NarrowTiles: narrow,
          smallMatmulMaxOutputs: 0,
          splitK: { targetWorkgroups: 1, minChunk: 1 << 20 },
        });
        const ops = await executor;
        const L = 16 * run;
        const seed = N + C + OC + run;
        const inp = uniform(rng(seed), N * C), weight32 = uniform(rng(seed + 1), OC * C);
        const w16 = Float32Array.from(weight32, roundToHalf); // what the f16 weight holds
        const weight = await halves(ops, weight32);
        const g = { out: await poisoned(ops, N * OC), inp: await upload(ops, inp), weight, bias: undefined };
        ops.run(matmul.forward, g, { N, C, OC });
        const out = await ops.read(g.out);
        const forward = checkRuns(out, products(inp, w16, N, C, OC), L, C);
        // Visibly f16: rounding the inputs alone moves these sums far past float32's ~K·2^-24.
        if (!(forward.largest > 1e-4)) throw new Error(`forward error ${forward.largest}: float32 arithmetic?`);

        const dout = uniform(rng(seed + 2), N * OC);
        const gb = {
          dinp: await poisoned(ops, N * C),
          dweight: await upload(ops, new Float32Array(OC * C)),
          dbias: undefined,
          dout: await upload(ops, dout),
          inp: g.inp,
          weight,
        };
        ops.run(matmul.backward, gb, { N, C, OC });
        // dinp[n,c] = Σ_o dout[n,o]·w[o,c]: B is the f16 weight, so f16 math in both modes.
        checkRuns(await ops.read(gb.dinp), products(dout, transpose(w16, OC, C), N, OC, C), L, OC);
        // dweight[o,c] = Σ_n dout[n,o]·inp[n,c]: B is float32 activations, f16 math only with "all".
        const dweight = await ops.read(gb.dweight);
        const want = products(transpose(dout, N, OC), transpose(inp, N, C), OC, N, C);
        if (mode === "all") {
          checkRuns(dweight, want, L, N);
        } else {
          // float32 arithmetic: Σ|terms|·K·2^-24-sized errors (matmul_gpu_test.ts's tolerance).
          assertClose(dweight, Float32Array.from(want.sum), { atol: 4e-7 * Math.sqrt(N) + 1e-6, rtol: 1e-5 }, "dw");
        }
        console.log(
          `  forward: ${(100 * forward.share).toFixed(1)}% of the bound (${forward.largest.toExponential(1)})`,
        );
      },
    });
  }
}

Deno.test({
  name: 'gpu GPT-2 with f16 weights and f16 math in every product ("all"): 3 AdamW steps near the float32 CPU model',
  ignore: !hasF16,
  fn: async () => {
    // Head size 8; T = 33 and V = 97 are not multiples of any tile.
    const spec = "layers=2,heads=3,channels=24,seq=40,vocab=97";
    const cfg = parseModelDescriptor(spec)!;
    const [B, T] = [2, 33];
    const hyper = { learningRate: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 };
    const tokens = (n: number, seed: number) => Int32Array.from({ length: n }, (_, i) => (i * 37 + seed) % 97);
    // deno-lint-ignore no-explicit-any
    const run = async (model: GPT2<any, any>) => {
      await loadParameters(model, await resolveModelSource(spec), 5);
      const losses: number[] = [];
      let logits: Float32Array = new Float32Array(0);
      for (let step = 1; step <= 3; step++) {
        model.forward(tokens(B * T, step), tokens(B * T, step + 1));
        if (step === 1) logits = await model.readLogits();
        losses.push(await model.meanLoss());
        model.zeroGrad();
        model.backward();
        await model.update({ ...hyper, step });
      }
      return { losses, logits };
    };
    const f32 = await run(await createCpuModel(cfg, B, T, { precision: "fp32" }));
    // No small-output kernel, so every product of this small model goes through the tiled kernel's f16 form.
    const options = { precision: "f16", matmulF16Math: "all", smallMatmulMaxOutputs: 0 } as const;
    const f16 = await run(await createGpuModel(cfg, B, T, options));
    // f16 inputs and runs of 16 f16 sums (relative ~2^-11 each) move these O(1) logits by ~1e-3; 2e-2 allows the
    // worst case of the (16 + 2)·2^-11 bound on sums of up to 24 terms. The losses: issue 13's 1e-2.
    const diff = assertClose(f16.logits, f32.logits, { atol: 2e-2, rtol: 0 }, "logits");
    if (!(diff > 1e-5)) throw new Error(`logits within ${diff} of float32: is f16 arithmetic running?`);
    f16.losses.forEach((loss, i) => {
      if (!(Math.abs(loss - f32.losses[i]) < 1e-2)) throw new Error(`step ${i + 1}: ${loss} vs ${f32.losses[i]}`);
    });
  },
});
