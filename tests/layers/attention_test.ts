/**
 * Every form of `attention.forward` and `attention.backward` (layers/attention.ts), outputs NaN-poisoned:
 * - `cpu`, the scalar reference: forward and the causal mask against a float64 definition, backward against finite
 *   differences;
 * - `wasm` (`CpuKernels`): against a float64 reference with Σ|terms| tolerances (tests/cpu/_wasm.ts) on awkward
 *   sizes, and against the scalar reference;
 * - `gpu`: against the scalar reference with head size 10 and three heads (C = 30, not a multiple of 4), T = 1, and
 *   T = 130 (the score matrices cross a 128 tile edge), through the tiled matmul (testOps) and the production
 *   defaults. att, preatt and the backward scratch (datt, dpreatt) are checked on and below the diagonal, where the
 *   GPU op defines them (the CPU forms' att is checked in full: zeros above the diagonal).
 *
 * The decode step (`attention.decode`) is tested in attention_decode_test.ts.
 */
import assert from "node:assert/strict";
import { CpuKernels } from "../../cpu/kernels.ts";
import { createGpuExecutor, type GpuExecutor } from "../../gpu/executor.ts";
import { attention, attentionBackward, attentionForward } from "../../layers/attention.ts";
import { assertClose } from "../_assert.ts";
import { randn, rng, uniform } from "../_random.ts";
import { Arena, RTOL, sums } from "../cpu/_wasm.ts";
import { adapterAvailable, defaultOps, poisoned as poisonedAt, testOps, upload } from "../gpu/_helpers.ts";
import { dot, f64, finiteDifferences, poisoned } from "./_check.ts";

// ---- cpu: the scalar reference ----

/**
 * Float64 causal attention from the definition, as matrices per (batch, head): S = Q·Kᵀ/√hs with -∞ above the
 * diagonal, A = softmax rows of S, Y = A·V. Returns out (B,T,C) and att (B,NH,T,T).
 */
function reference(qkv: ArrayLike<number>, B: number, T: number, C: number, NH: number) {
  const hs = C / NH;
  const out = new Float64Array(B * T * C);
  const att = new Float64Array(B * NH * T * T);
  const at = (b: number, t: number, part: number, h: number, i: number) =>
    qkv[(b * T + t) * 3 * C + part * C + h * hs + i];
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < NH; h++) {
      for (let t = 0; t < T; t++) {
        const scores = Array.from({ length: T }, (_, t2) => {
          if (t2 > t) return -Infinity;
          let s = 0;
          for (let i = 0; i < hs; i++) s += at(b, t, 0, h, i) * at(b, t2, 1, h, i);
          return s / Math.sqrt(hs);
        });
        const max = Math.max(...scores);
        const exps = scores.map((s) => Math.exp(s - max));
        const sum = exps.reduce((a, e) => a + e, 0);
        for (let t2 = 0; t2 < T; t2++) att[((b * NH + h) * T + t) * T + t2] = exps[t2] / sum;
        for (let i = 0; i < hs; i++) {
          let y = 0;
          for (let t2 = 0; t2 <= t; t2++) y += (exps[t2] / sum) * at(b, t2, 2, h, i);
          out[(b * T + t) * C + h * hs + i] = y;
        }
      }
    }
  }
  return { out, att };
}

for (const [B, T, C, NH] of [[2, 5, 30, 3], [3, 1, 30, 3], [1, 7, 8, 1]]) {
  Deno.test(`attention B=${B} T=${T} C=${C} NH=${NH}: forward, causal mask, backward vs finite differences`, () => {
    const r = rng(B * 1000 + T * 10 + NH);
    const inp = randn(r, B * T * 3 * C);
    const out = poisoned(B * T * C), preatt = poisoned(B * NH * T * T), att = poisoned(B * NH * T * T);
    attentionForward({ out, preatt, att, inp }, { B, T, C, NH });
    const ref = reference(inp, B, T, C, NH);
    // float64 sums, float32 storage of O(1) values.
    assertClose(out, ref.out, { atol: 1e-6, rtol: 1e-6 }, "out");
    assertClose(att, ref.att, { atol: 1e-7, rtol: 1e-6 }, "att (0 above the diagonal)");
    for (let i = 0; i < preatt.length; i++) {
      if (Number.isNaN(preatt[i])) throw new Error(`preatt[${i}] not written`);
    }

    const dout = randn(r, B * T * C);
    const dinp = poisoned(B * T * 3 * C);
    const dpreatt = poisoned(B * NH * T * T), datt = poisoned(B * NH * T * T);
    attentionBackward({ dinp, dpreatt, datt, dout, inp, att }, { B, T, C, NH });
    const fd = finiteDifferences((x) => dot(reference(x, B, T, C, NH).out, dout), f64(inp));
    // dinp is written in full (poisoned first); float32 gradients vs float64 finite differences.
    assertClose(dinp, fd, { atol: 1e-5, rtol: 1e-4 }, "dinp (written)");
  });
}

// ---- wasm: CpuKernels ----

/** float64 forward and backward with Σ|terms| of each output. */
function refAttention(inp: Float32Array, dout: Float32Array, B: number, T: number, C: number, NH: number) {
  const hs = C / NH, scale = 1 / Math.sqrt(hs), C3 = 3 * C;
  const out = new Float64Array(B * T * C), outMag = new Float64Array(B * T * C);
  const att = new Float64Array(B * NH * T * T), preatt = new Float64Array(B * NH * T * T);
  const dinp = new Float64Array(B * T * C3), dinpMag = new Float64Array(B * T * C3);
  const q = (b: number, t: number, h: number, i: number) => inp[(b * T + t) * C3 + h * hs + i];
  const kk = (b: number, t: number, h: number, i: number) => inp[(b * T + t) * C3 + C + h * hs + i];
  const v = (b: number, t: number, h: number, i: number) => inp[(b * T + t) * C3 + 2 * C + h * hs + i];
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < NH; h++) {
      for (let t = 0; t < T; t++) {
        const row = ((b * NH + h) * T + t) * T;
        let max = -Infinity;
        for (let t2 = 0; t2 <= t; t2++) {
          let s = 0;
          for (let i = 0; i < hs; i++) s += q(b, t, h, i) * kk(b, t2, h, i);
          preatt[row + t2] = s * scale;
          max = Math.max(max, s * scale);
        }
        let sum = 0;
        for (let t2 = 0; t2 <= t; t2++) sum += Math.exp(preatt[row + t2] - max);
        for (let t2 = 0; t2 <= t; t2++) att[row + t2] = Math.exp(preatt[row + t2] - max) / sum;
        for (let i = 0; i < hs; i++) {
          let s = 0, m = 0;
          for (let t2 = 0; t2 <= t; t2++) {
            s += att[row + t2] * v(b, t2, h, i);
            m += Math.abs(att[row + t2] * v(b, t2, h, i));
          }
          out[(b * T + t) * C + h * hs + i] = s;
          outMag[(b * T + t) * C + h * hs + i] = m;
        }
        // Backward for this row, accumulated into dinp (float64).
        const datt = new Float64Array(T);
        const d = (i: number) => dout[(b * T + t) * C + h * hs + i];
        let wsum = 0;
        for (let t2 = 0; t2 <= t; t2++) {
          for (let i = 0; i < hs; i++) {
            datt[t2] += v(b, t2, h, i) * d(i);
            const j = (b * T + t2) * C3 + 2 * C + h * hs + i;
            dinp[j] += att[row + t2] * d(i);
            dinpMag[j] += Math.abs(att[row + t2] * d(i));
          }
          wsum += att[row + t2] * datt[t2];
        }
        for (let t2 = 0; t2 <= t; t2++) {
          const g = att[row + t2] * (datt[t2] - wsum) * scale;
          for (let i = 0; i < hs; i++) {
            const jq = (b * T + t) * C3 + h * hs + i, jk = (b * T + t2) * C3 + C + h * hs + i;
            dinp[jq] += g * kk(b, t2, h, i);
            dinpMag[jq] += Math.abs(g * kk(b, t2, h, i)) * 10; // g itself carries rounding from datt
            dinp[jk] += g * q(b, t, h, i);
            dinpMag[jk] += Math.abs(g * q(b, t, h, i)) * 10;
          }
        }
      }
    }
  }
  return { out, outMag, att, preatt, dinp, dinpMag };
}

const ATTENTION_SHAPES: [number, number, number, number][] = [
  [1, 1, 4, 1],
  [2, 7, 30, 3],
  [1, 7, 12, 3],
  [2, 9, 64, 4],
  [1, 5, 3, 3],
  [2, 1, 30, 3],
];

Deno.test("CpuKernels attentionForward/Backward match a float64 reference on awkward sizes", async () => {
  const A = new Arena();
  const k = await CpuKernels.create(A.memory, 3, { parallelMinFlops: 0 });
  try {
    for (const [B, T, C, NH] of ATTENTION_SHAPES) {
      A.reset();
      const tag = `B=${B} T=${T} C=${C} NH=${NH}`;
      const inp = A.random(B * T * 3 * C, 2), dout = A.random(B * T * C);
      const out = A.poisoned(B * T * C), preatt = A.poisoned(B * NH * T * T), att = A.poisoned(B * NH * T * T);
      k.attentionForward({ out, preatt, att, inp }, { B, T, C, NH });
      const r = refAttention(inp, dout, B, T, C, NH);
      assertClose(out, r.out, sums(r.outMag), `out ${tag}`);
      // att: probabilities in [0, 1] (zero above the diagonal); preatt only on and below it.
      assertClose(att, r.att, { atol: RTOL }, `att ${tag}`);
      const lower = (i: number) => i % T <= Math.floor(i / T) % T; // t2 <= t of element i of (B,NH,T,T)
      assertClose(preatt, r.preatt, { atol: 10 * RTOL, rtol: 10 * RTOL, mask: lower }, `preatt ${tag}`);
      const dinp = A.poisoned(B * T * 3 * C), dpreatt = A.poisoned(B * NH * T * T), datt = A.poisoned(B * NH * T * T);
      k.attentionBackward({ dinp, dpreatt, datt, dout, inp, att }, { B, T, C, NH });
      assertClose(dinp, r.dinp, sums(r.dinpMag), `dinp ${tag}`);
    }
  } finally {
    k.close();
  }
});

Deno.test("CpuKernels attention agrees with the scalar reference layer (layers/attention.ts)", async () => {
  const A = new Arena();
  const k = await CpuKernels.create(A.memory, 2);
  try {
    for (const [B, T, C, NH] of [[2, 7, 30, 3], [1, 9, 64, 4]]) {
      A.reset();
      const s = { B, T, C, NH };
      const inp = A.random(B * T * 3 * C, 2), dout = A.random(B * T * C);
      const out = A.poisoned(B * T * C), preatt = A.poisoned(B * NH * T * T), att = A.poisoned(B * NH * T * T);
      const wOut = new Float32Array(out.length), wPre = new Float32Array(preatt.length);
      const wAtt = new Float32Array(att.length);
      k.attentionForward({ out, preatt, att, inp }, s);
      attentionForward({ out: wOut, preatt: wPre, att: wAtt, inp }, s);
      const r = refAttention(inp, dout, B, T, C, NH);
      assertClose(out, Float64Array.from(wOut), sums(r.outMag), "attention out vs layers");
      assertClose(att, Float64Array.from(wAtt), { atol: RTOL }, "att vs layers");
      assertClose(
        preatt,
        Float64Array.from(wPre),
        sums(Float64Array.from(wPre, (x) => 10 * Math.abs(x))),
        "preatt vs layers",
      );
      const dinp = A.poisoned(B * T * 3 * C), wDinp = new Float32Array(dinp.length);
      const scratch = () => A.poisoned(B * NH * T * T);
      k.attentionBackward({ dinp, dpreatt: scratch(), datt: scratch(), dout, inp, att }, s);
      attentionBackward({ dinp: wDinp, dpreatt: scratch(), datt: scratch(), dout, inp, att: wAtt }, s);
      assertClose(dinp, Float64Array.from(wDinp), sums(r.dinpMag), "attention dinp vs layers");
    }
  } finally {
    k.close();
  }
});

// ---- gpu ----

// Scores are sums of hs ≤ 64 products, softmax sums of T ≤ 256 terms, outputs weighted sums of T values, all in f32
// against the CPU's float64: 2e-6 absolute plus 1e-5 relative leaves a margin of about 10× at hs ≤ 16 and T ≤ 130
// (measured up to 1.4e-6), and of 2-3× at hs = 64, T = 256 (4.8e-6, in elements of magnitude ~1).
const GPU_TOL = { atol: 2e-6, rtol: 1e-5 };

async function checkGpu(
  ops: GpuExecutor,
  B: number,
  T: number,
  C: number,
  NH: number,
  seed: number,
  aligned = false, // every tensor's start a multiple of 4 floats, as the model plans them (else odd starts)
): Promise<number> {
  const pad = (p: number) => (aligned ? 4 * p : p);
  const gpuPoisoned = (o: GpuExecutor, n: number) => poisonedAt(o, n, pad(7));
  const TT = B * NH * T * T;
  const lower = (i: number) => (i % T) <= Math.floor(i / T) % T; // t2 ≤ t of element i of (B,NH,T,T)
  const inp = uniform(rng(seed), B * T * 3 * C);
  const out = new Float32Array(B * T * C);
  const preatt = new Float32Array(TT);
  const att = new Float32Array(TT);
  attentionForward({ out, preatt, att, inp }, { B, T, C, NH });
  const g = {
    out: await gpuPoisoned(ops, B * T * C),
    preatt: await gpuPoisoned(ops, TT),
    att: await gpuPoisoned(ops, TT),
    inp: await upload(ops, inp, pad(3)),
  };
  ops.run(attention.forward, g, { B, T, C, NH });
  const diffs = [
    assertClose(await ops.read(g.out), out, GPU_TOL, "out"),
    assertClose(await ops.read(g.att), att, { ...GPU_TOL, mask: lower }, "att (written on and below the diagonal)"),
    assertClose(await ops.read(g.preatt), preatt, { ...GPU_TOL, mask: lower }, "preatt"),
  ];
  // The backward pass's recompute (outHolds): scores and probabilities again, bit-identical; out left as it was.
  const outBefore = await ops.read(g.out), attBefore = await ops.read(g.att);
  const recomputed = { ...g, preatt: await gpuPoisoned(ops, TT), att: await gpuPoisoned(ops, TT) };
  ops.run(attention.forward, recomputed, { B, T, C, NH, outHolds: true });
  assert.deepEqual(await ops.read(recomputed.att), attBefore, "att recomputed with outHolds");
  assert.deepEqual(await ops.read(g.out), outBefore, "out untouched by outHolds");
  // With lse: the forward writes each row's log-sum-exp of the scores, and the recompute makes att from it in the
  // q·kᵀ product (exp(q·kᵀ/√hs - lse): another rounding than the softmax's, so close, not bit-identical), writing
  // no preatt. The float64 lse from the CPU's scores. With keepAtt the forward writes att as without lse; without
  // it, no att at all: att·v exponentiates the scores it stages (aExp), so out is close to the CPU's, not identical.
  const rowsTT = B * NH * T;
  const lse = new Float64Array(rowsTT).map((_, r) => {
    const t = r % T;
    let sum = 0;
    for (let t2 = 0; t2 <= t; t2++) sum += Math.exp(preatt[r * T + t2]);
    return Math.log(sum);
  });
  const withLse = { ...g, preatt: await gpuPoisoned(ops, TT), att: await gpuPoisoned(ops, TT) };
  const glse = await gpuPoisoned(ops, rowsTT);
  ops.run(attention.forward, { ...withLse, lse: glse }, { B, T, C, NH, keepAtt: true });
  diffs.push(assertClose(await ops.read(glse), Float32Array.from(lse), GPU_TOL, "lse"));
  assert.deepEqual(await ops.read(withLse.att), attBefore, "att of a forward that writes lse and keeps att");
  const noAtt = { ...g, out: await gpuPoisoned(ops, B * T * C), att: await gpuPoisoned(ops, TT) };
  const lseNoAtt = await gpuPoisoned(ops, rowsTT);
  ops.run(attention.forward, { ...noAtt, preatt: await gpuPoisoned(ops, TT), lse: lseNoAtt }, { B, T, C, NH });
  assert.deepEqual(await ops.read(lseNoAtt), await ops.read(glse), "lse of a forward that writes no att");
  assert.ok((await ops.read(noAtt.att)).every(Number.isNaN), "a forward with lse and without keepAtt writes no att");
  diffs.push(assertClose(await ops.read(noAtt.out), out, GPU_TOL, "out made from the scores and lse (aExp)"));
  const fromLse = { ...g, preatt: await gpuPoisoned(ops, TT), att: await gpuPoisoned(ops, TT), lse: glse };
  ops.run(attention.forward, fromLse, { B, T, C, NH, outHolds: true });
  diffs.push(assertClose(await ops.read(fromLse.att), att, { ...GPU_TOL, mask: lower }, "att recomputed from lse"));
  assert.ok((await ops.read(fromLse.preatt)).every(Number.isNaN), "the recompute from lse writes no preatt");
  assert.deepEqual(await ops.read(g.out), outBefore, "out untouched by the recompute from lse");

  const dout = uniform(rng(seed + 1), B * T * C);
  const dinp = new Float32Array(B * T * 3 * C);
  const dpreatt = new Float32Array(TT);
  const datt = new Float32Array(TT);
  attentionBackward({ dinp, dpreatt, datt, dout, inp, att }, { B, T, C, NH });
  const gb = {
    dinp: await gpuPoisoned(ops, B * T * 3 * C),
    dpreatt: await gpuPoisoned(ops, TT),
    datt: await gpuPoisoned(ops, TT),
    dout: await upload(ops, dout, pad(3)),
    inp: g.inp,
    att: g.att,
  };
  ops.run(attention.backward, gb, { B, T, C, NH });
  diffs.push(
    assertClose(await ops.read(gb.dinp), dinp, GPU_TOL, "dinp"),
    assertClose(await ops.read(gb.datt), datt, { ...GPU_TOL, mask: lower }, "datt"),
    assertClose(await ops.read(gb.dpreatt), dpreatt, { ...GPU_TOL, mask: lower }, "dpreatt"),
  );
  // With the forward's out: D = rowsum(dout ∘ out) and dpreatt = att ∘ (dout·vᵀ − D) in one product; datt unwritten.
  const fused = { ...gb, dinp: await gpuPoisoned(ops, B * T * 3 * C), dpreatt: await gpuPoisoned(ops, TT) };
  fused.datt = await gpuPoisoned(ops, TT);
  ops.run(attention.backward, { ...fused, out: g.out }, { B, T, C, NH });
  diffs.push(
    assertClose(await ops.read(fused.dinp), dinp, GPU_TOL, "dinp (fused softmax backward)"),
    assertClose(await ops.read(fused.dpreatt), dpreatt, { ...GPU_TOL, mask: lower }, "dpreatt (fused)"),
  );
  assert.ok((await ops.read(fused.datt)).every(Number.isNaN), "the fused backward writes no datt");
  return Math.max(...diffs);
}

// The last: whole tiles (T a multiple of 128, hs = 64), so every product skips its bounds checks (EXACT) under the
// causal mask, over two tile rows (a tile wholly above the diagonal is skipped); its tensors start 4-aligned, so the
// column-contiguous B operands are read a vec4 a load (VEC4_B).
for (const [B, T, C, NH] of [[2, 7, 30, 3], [3, 1, 30, 3], [1, 130, 32, 2], [1, 256, 128, 2]]) {
  Deno.test({
    name: `gpu attention B=${B} T=${T} C=${C} NH=${NH}: forward and backward vs CPU`,
    ignore: !adapterAvailable,
    fn: async () => {
      const whole = T % 128 === 0;
      const ops = await testOps(); // (every product tiled)
      const taken = new Set<string>(); // which vec4 views its dispatches took
      const dispatch = ops.runtime.dispatch.bind(ops.runtime);
      ops.runtime.dispatch = (spec) => {
        for (const view of ["VEC4_A", "VEC4_B"]) if (spec.overrides?.[view]) taken.add(view);
        dispatch(spec);
      };
      let tiled: number;
      try {
        tiled = await checkGpu(ops, B, T, C, NH, B + T + C, whole);
      } finally {
        ops.runtime.dispatch = dispatch;
      }
      const small = await checkGpu(await defaultOps(), B, T, C, NH, B + T + C, whole);
      console.log(`  max abs diff: tiled ${tiled.toExponential(1)}, default ${small.toExponential(1)}`);
      if (whole) assert.deepEqual([...taken], ["VEC4_B"]); // (A's masked products keep scalar loads)
    },
  });
}

Deno.test({
  name: "gpu attention with 1 and 256 softmax threads a row (256 and 1 rows a workgroup) vs CPU",
  ignore: !adapterAvailable,
  fn: async () => {
    const diffs = [];
    for (const lanes of [1, 256]) {
      const ops = await createGpuExecutor({ attentionSoftmaxLanes: lanes });
      for (const [B, T, C, NH] of [[2, 7, 30, 3], [1, 130, 32, 2]]) {
        diffs.push(`${lanes} lanes T=${T} ${(await checkGpu(ops, B, T, C, NH, 3 * lanes + T)).toExponential(1)}`);
      }
    }
    console.log(`  max abs diff: ${diffs.join(", ")}`);
  },
});

Deno.test({
  name: "gpu attention with its row tiles in grid order (matmulHeavyFirst off) vs CPU",
  ignore: !adapterAvailable,
  fn: async () => {
    // The default runs the masked-A products' longest row tiles first (the tests above); this is the other order.
    const ops = await createGpuExecutor({ matmulHeavyFirst: false, smallMatmulMaxOutputs: 0 });
    const diff = await checkGpu(ops, 2, 130, 32, 2, 11); // two row tiles, the second of two rows
    console.log(`  max abs diff: ${diff.toExponential(1)}`);
  },
});
