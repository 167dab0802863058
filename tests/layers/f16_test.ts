/**
 * f16 storage (issue 13, item 4: halves packed two to a word, float32 math, on every WebGPU device):
 * - `util/f16.ts`, the host's half conversions: every one of the 65,536 bit patterns round-trips, rounding is to the
 *   nearest half with ties to even, overflow and underflow land where IEEE 754 puts them;
 * - `f16Copy` (layers/f16_copy.ts): the GPU's packed copy equal bit for bit to the CPU's rounding (ties, subnormal
 *   halves, overflow, NaN), on awkward lengths, placed at unaligned offsets of its buffer, with its neighbours untouched;
 * - the matmuls reading an f16 weight (`kernels/_gemm_b_f16.wgsl`): the tiled kernel (bounds checked and
 *   EXACT), `matmul_small` and `matmul_rows`, forward and both backward products, against the CPU matmul given the
 *   same half-rounded weights (so the tolerances are float32's, as in matmul_gpu_test.ts);
 * - `adamw.update` with `params16`: the update kernel writing the copy itself (kernels/adamw_update_f16.wgsl).
 */
import assert from "node:assert/strict";
import { createGpuExecutor, GpuExecutor } from "../../gpu/executor.ts";
import { GpuRuntime } from "../../gpu/runtime.ts";
import { GEMM_ROWS_MAX } from "../../gpu/_gemm.ts";
import type { GpuTensor } from "../../gpu/tensor.ts";
import { adamw } from "../../layers/adamw.ts";
import { f16Copy, f16CopyForward } from "../../layers/f16_copy.ts";
import { matmul, matmulBackward, matmulForward } from "../../layers/matmul.ts";
import { halfBits, halfValue, packHalves, roundToHalf, unpackHalves } from "../../util/f16.ts";
import { assertClose } from "../_assert.ts";
import { rng, uniform } from "../_random.ts";
import { adapterAvailable, defaultOps, poisoned, testOps, upload } from "../gpu/_helpers.ts";

// ---- host conversions ----

Deno.test("f16 host conversions: every half round-trips; ties go to even; overflow, subnormals and zero", () => {
  for (let bits = 0; bits < 0x10000; bits++) {
    const value = halfValue(bits);
    if (Number.isNaN(value)) {
      if (!Number.isNaN(halfValue(halfBits(value)))) throw new Error(`NaN ${bits.toString(16)} lost`);
      continue;
    }
    if (halfBits(value) !== bits) throw new Error(`${bits.toString(16)} → ${value} → ${halfBits(value).toString(16)}`);
  }
  const cases: [number, number][] = [
    [1 + 2 ** -11, 1], // halfway between 1 and 1 + 2^-10: ties to the even mantissa (1)
    [1 + 3 * 2 ** -11, 1 + 2 ** -9], // halfway between 1 + 2^-10 and 1 + 2^-9: to the even one
    [1 + 2 ** -11 + 2 ** -20, 1 + 2 ** -10], // just above halfway: up
    [65504, 65504], // the largest half
    [65519, 65504], // below the midpoint to the next binade: stays
    [65520, Infinity], // the midpoint rounds to even, which is Infinity
    [2 ** -24, 2 ** -24], // the smallest subnormal
    [2 ** -25, 0], // halfway to the smallest subnormal: ties to even (0)
    [3 * 2 ** -26, 2 ** -24], // above that halfway: the smallest subnormal
    [-0, -0],
  ];
  for (const [x, want] of cases) {
    const got = roundToHalf(x);
    if (!Object.is(got, want)) throw new Error(`roundToHalf(${x}) = ${got}, want ${want}`);
  }
  const values = [0.5, -3, 7.25];
  if (unpackHalves(packHalves(values), 3).join() !== values.join()) throw new Error("pack/unpack");
  if (packHalves([1, 2])[0] !== (0x4000 << 16 | 0x3c00) >>> 0) throw new Error("element 0 is the low half");
});

// ---- gpu ----

/** An f16 tensor of `n` halves at an unaligned (but word-aligned: even) start of its buffer. */
async function halves(ops: GpuExecutor, n: number, pad = 6): Promise<GpuTensor> {
  const arena = await ops.runtime.allocate("test f16", "f16", n + pad + 2 + (n % 2)); // whole words
  return { arena, offset: pad, length: n };
}

/**
 * Whether `got` is the half nearest to `x`, ties to even, as the CPU rounds it: the GPU's copies are rounded with
 * integer operations on the float's bits (kernels/_half_bits.wgsl), so they match bit for bit (±0 and NaN included).
 */
function isNearestHalf(got: number, x: number): boolean {
  return Object.is(got, roundToHalf(x));
}

Deno.test({
  name: "gpu f16Copy rounds as the CPU does: ties to even, subnormal halves, overflow to Infinity, ±0, NaN",
  ignore: !adapterAvailable,
  fn: async () => {
    const ops = await defaultOps();
    const inp = new Float32Array([
      1 + 2 ** -11, // halfway between 1 and its successor: to the even one (1)
      1 + 3 * 2 ** -11, // halfway again: to the even one, up
      1 + 2 ** -11 + 2 ** -20, // just above halfway: up (a round-toward-zero conversion would stay at 1)
      1 + 2 ** -11 - 2 ** -20, // just below halfway: down
      -(1 + 2 ** -11 + 2 ** -20), // the same below zero: away from zero
      0.1, // an ordinary value between two halves
      65504, // the largest half
      65519, // below the midpoint to 2^16: stays at 65504
      65520, // the midpoint rounds to even, which is Infinity
      1e6, // far beyond the largest half: Infinity (pack2x16float's result is indeterminate)
      -1e6,
      Infinity,
      -Infinity,
      NaN,
      2 ** -24, // the smallest subnormal half
      2 ** -25, // halfway to it: ties to even, 0
      3 * 2 ** -26, // above that halfway: the smallest subnormal
      -(2 ** -24) * 5.5, // a subnormal tie, negative: to even (-6 · 2^-24)
      2 ** -14 - 2 ** -26, // just under the smallest normal half: rounds up into it
      6e-5, // a subnormal half (pack2x16float may flush it to zero)
      1e-30, // far below: 0
      -0,
      0,
    ]);
    const out = await halves(ops, inp.length);
    ops.run(f16Copy.forward, { out, inp: await upload(ops, inp) }, { N: inp.length });
    const got = await ops.read(out);
    for (let i = 0; i < inp.length; i++) {
      if (!isNearestHalf(got[i], inp[i])) {
        throw new Error(`f16Copy(${inp[i]}) = ${got[i]}, want ${roundToHalf(inp[i])}`);
      }
    }
  },
});

for (const n of [1, 2, 7, 1001]) {
  Deno.test({
    name: `gpu f16Copy of ${n} values (|x| from 1e-6 to 1e4) vs CPU rounding; neighbours untouched`,
    ignore: !adapterAvailable,
    fn: async () => {
      const ops = await defaultOps();
      // uniform(-1, 1) scaled by 1e-6 … 1e4: subnormal halves, ordinary ones and values near the top of the range.
      const inp = uniform(rng(n), n).map((x, i) => x * 10 ** (((i * 7) % 11) - 6));
      const want = new Float32Array(n);
      f16CopyForward({ out: want, inp }, { N: n });
      const out = await halves(ops, n);
      const whole = { ...out, offset: 0, length: out.arena.length };
      ops.runtime.write(whole, new Float32Array(whole.length).fill(-7)); // neighbours: a known half
      ops.run(f16Copy.forward, { out, inp: await upload(ops, inp) }, { N: n });
      const got = await ops.read(whole);
      for (let i = 0; i < whole.length; i++) {
        const inside = i >= out.offset && i < out.offset + n;
        if (!inside && got[i] !== -7) throw new Error(`half ${i}, outside the copy, became ${got[i]}`);
        if (inside && !isNearestHalf(got[i], inp[i - out.offset])) {
          throw new Error(
            `half ${i - out.offset}: ${got[i]} for ${inp[i - out.offset]} (CPU: ${want[i - out.offset]})`,
          );
        }
      }
    },
  });
}

/** Sum-of-|terms| tolerance of a length-K f32 dot product (as matmul_gpu_test.ts): atol and rtol ≈ K·2^-24·4. */
function tolerance(K: number) {
  return { atol: 4e-7 * Math.sqrt(K) + 1e-6, rtol: 1e-5 };
}

/** Forward and backward with an f16 weight on `ops`, against the CPU matmul given the GPU's half-rounded weight. */
async function checkF16Weight(ops: GpuExecutor, N: number, C: number, OC: number, seed: number): Promise<number> {
  const inp = uniform(rng(seed), N * C);
  const weight32 = uniform(rng(seed + 1), OC * C);
  const bias = uniform(rng(seed + 2), OC);
  const weight = await halves(ops, OC * C);
  ops.run(f16Copy.forward, { out: weight, inp: await upload(ops, weight32) }, { N: OC * C });
  const rounded = await ops.read(weight);
  for (let i = 0; i < rounded.length; i++) {
    if (!isNearestHalf(rounded[i], weight32[i])) throw new Error(`weight ${i}: ${rounded[i]} for ${weight32[i]}`);
  }
  const out = new Float32Array(N * OC);
  matmulForward({ out, inp, weight: rounded, bias }, { N, C, OC });
  const g = { out: await poisoned(ops, N * OC), inp: await upload(ops, inp), weight, bias: await upload(ops, bias) };
  ops.run(matmul.forward, g, { N, C, OC });
  const diffs = [assertClose(await ops.read(g.out), out, tolerance(C), "out")];

  const dout = uniform(rng(seed + 3), N * OC);
  const dinp = new Float32Array(N * C);
  const dweight = uniform(rng(seed + 4), OC * C); // accumulated into
  const dbias = uniform(rng(seed + 5), OC);
  const gb = {
    dinp: await poisoned(ops, N * C),
    dweight: await upload(ops, dweight, 9),
    dbias: await upload(ops, dbias, 11),
    dout: await upload(ops, dout),
    inp: g.inp,
    weight,
  };
  matmulBackward({ dinp, dweight, dbias, dout, inp, weight: rounded }, { N, C, OC });
  ops.run(matmul.backward, gb, { N, C, OC });
  diffs.push(assertClose(await ops.read(gb.dinp), dinp, tolerance(OC), "dinp"));
  diffs.push(assertClose(await ops.read(gb.dweight), dweight, tolerance(N), "dweight"));
  diffs.push(assertClose(await ops.read(gb.dbias), dbias, tolerance(N), "dbias"));
  return Math.max(...diffs);
}

const SHAPES: [number, number, number][] = [
  [33, 30, 97], // nothing a multiple of 4 or of the tile
  [130, 64, 200], // crosses tile edges; split-K under the test options
  [3, 77, 130], // a few rows (matmul_rows with the rows executor): K not a multiple of the 32 lanes
  [256, 64, 128], // whole tiles: the EXACT (unchecked) loads
];

let rows: Promise<GpuExecutor> | undefined;
for (const [N, C, OC] of SHAPES) {
  Deno.test({
    name: `gpu matmul N=${N} C=${C} OC=${OC} with an f16 weight: tiled, small and rows kernels vs CPU`,
    ignore: !adapterAvailable,
    fn: async () => {
      const seed = N + C + OC;
      const tiled = await checkF16Weight(await testOps(), N, C, OC, seed);
      const small = await checkF16Weight(await defaultOps(), N, C, OC, seed);
      rows ??= createGpuExecutor({ rowsMatmulMaxRows: GEMM_ROWS_MAX });
      const few = N <= GEMM_ROWS_MAX ? await checkF16Weight(await rows, N, C, OC, seed) : undefined;
      console.log(
        `  max abs diff: tiled ${tiled.toExponential(1)}, default ${small.toExponential(1)}, rows ${
          few?.toExponential(1) ?? "-"
        }`,
      );
    },
  });
}

Deno.test({
  name: "gpu matmul refuses an f16 tensor as A or as the output",
  ignore: !adapterAvailable,
  fn: async () => {
    const ops = await defaultOps();
    const [N, C, OC] = [4, 8, 6];
    const w = await upload(ops, uniform(rng(1), OC * C));
    const x16 = await halves(ops, N * C);
    let message = "";
    try {
      ops.run(matmul.forward, { out: await poisoned(ops, N * OC), inp: x16, weight: w }, { N, C, OC });
    } catch (err) {
      message = (err as Error).message;
    }
    if (!message.includes("only B")) throw new Error(`an f16 input was accepted (${message || "no error"})`);
  },
});

// AdamW writing the f16 copy in the same kernel (adamw_update_f16.wgsl): the halves are the updated parameters, an odd
// length's last word keeps its high half (the next tensor's), a skipped step writes no half, and with 2 KiB
// bindings the update runs in pieces of 448 elements whose words do not straddle two pieces.
for (const bindingBytes of [undefined, 2048]) {
  Deno.test({
    name: `gpu adamw with an f16 copy of the parameters${bindingBytes ? ", 2 KiB bindings" : ""}: halves of the ` +
      "update, neighbours kept, a skipped step writes none",
    ignore: !adapterAvailable,
    fn: async () => {
      const base = await testOps();
      const ops = bindingBytes
        ? new GpuExecutor(
          new GpuRuntime({
            ...base.runtime.ctx,
            limits: { ...base.runtime.ctx.limits, maxStorageBufferBindingSize: bindingBytes },
          }),
        )
        : base;
      const n = 1001, pad = 6;
      const copy = await halves(ops, n, pad); // the last element is the low half of its word
      const whole = { arena: copy.arena, offset: 0, length: copy.arena.length };
      const sevens = await upload(ops, new Float32Array(whole.length).fill(7));
      ops.run(f16Copy.forward, { out: whole, inp: sevens }, { N: whole.length }); // 7 before, inside and after
      const g = {
        params: await upload(ops, uniform(rng(31), n)),
        grads: await upload(ops, uniform(rng(32), n)),
        m: await upload(ops, uniform(rng(33), n, 0.1)),
        v: await upload(ops, uniform(rng(34), n, 0.01).map(Math.abs)),
        norm: await upload(ops, new Float32Array(2)),
      };
      const hyper = { learningRate: 1e-2, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, step: 2, gradScale: 1 };
      ops.run(adamw.update, { ...g, params16: copy }, { n, ...hyper });
      const params = await ops.read(g.params);
      const halvesRead = await ops.read(whole);
      for (let i = 0; i < whole.length; i++) {
        const inside = i >= pad && i < pad + n;
        const ok = inside ? isNearestHalf(halvesRead[i], params[i - pad]) : halvesRead[i] === 7;
        if (!ok) {
          const want = inside ? `the half nearest to ${params[i - pad]}` : "7 (untouched)";
          throw new Error(`half ${i} of the arena is ${halvesRead[i]}, want ${want}`);
        }
      }
      // An Inf in the norm with skipNonFinite: params and the copy stay as they were.
      ops.write(g.norm, new Float32Array([Infinity, 0]));
      ops.run(adamw.update, { ...g, params16: copy }, { n, ...hyper, step: 3, skipNonFinite: true });
      assert.deepEqual(await ops.read(whole), halvesRead, "a skipped step writes no half");
      assert.deepEqual(await ops.read(g.params), params, "nor a parameter");
    },
  });
}

Deno.test("adamw on the CPU with an f16 copy: the copy is the updated parameters rounded to halves", () => {
  const n = 33;
  const b = { params: uniform(rng(41), n), grads: uniform(rng(42), n), m: new Float32Array(n), v: new Float32Array(n) };
  const params16 = new Float32Array(n).fill(7);
  adamw.update.cpu({ ...b, params16 }, { n, ...HYPER_F16 });
  assert.deepEqual(params16, b.params.map(roundToHalf));
});

const HYPER_F16 = { learningRate: 1e-2, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0, step: 1, gradScale: 1 };
