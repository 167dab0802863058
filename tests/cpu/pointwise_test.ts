/**
 * CpuKernels' pointwise kernels (AdamW, squared gradient norm, GELU, softmax + cross-entropy) against the scalar
 * reference layers in `layers/` (which compute in float64), on awkward lengths, outputs poisoned with NaN, and
 * bit-identical for 1 and 3 threads.
 *
 * Tolerances: the kernels compute in float32 (exp and tanh through a ~1 ulp polynomial), so each element is
 * within a few float32 ulps of the float64 reference: |got - want| <= 1e-6 · (|want| + scale), scale being the
 * size of the terms involved (given per test); an indexing slip is off by O(1).
 */
import { CpuKernels } from "../../cpu/kernels.ts";
import { adamwUpdate, gradNormSquared } from "../../layers/adamw.ts";
import { geluBackward, geluForward } from "../../layers/gelu.ts";
import { softmaxCrossEntropyForward } from "../../layers/softmax_crossentropy.ts";
import type { AdamWHyper } from "../../layers/adamw.ts";
import { assertClose } from "../_assert.ts";
import { fillUniform, rng } from "../_random.ts";

const memory = new WebAssembly.Memory({ initial: 512, maximum: 512, shared: true }); // 32 MiB
let cursor = 64;
const r = rng(7);
function alloc(n: number): Float32Array {
  const a = new Float32Array(memory.buffer, cursor, n);
  cursor += Math.ceil((n * 4) / 64) * 64 + 4 * (n % 5); // starts not always 16-byte aligned
  return a;
}
function random(n: number, scale = 1): Float32Array {
  return fillUniform(r, alloc(n), scale);
}

/** |got - want| <= rtol · (|want| + scale) per element (see the module comment). */
function near(scale: number, rtol = 1e-6) {
  return { atol: rtol * scale, rtol };
}

const LENGTHS = [1, 3, 4, 7, 65537, 70001]; // tails of 0-3 lanes, more than one 65536-element chunk
const HYPER: AdamWHyper = {
  learningRate: 1e-3,
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  weightDecay: 0.01,
  step: 3,
  gradScale: 0.5,
};

Deno.test("pointwise kernels match layers/ (AdamW, grad norm, GELU, softmax + cross-entropy)", async () => {
  const k = await CpuKernels.create(memory, 2, { parallelMinFlops: 0 });
  try {
    for (const n of LENGTHS) {
      cursor = 64;
      // AdamW: v >= 0 as in training.
      const params = random(n), grads = random(n), m = random(n, 0.1), v = alloc(n);
      for (let i = 0; i < n; i++) v[i] = Math.abs(grads[i]) * 0.01;
      const want = { params: params.slice(), grads, m: m.slice(), v: v.slice() };
      adamwUpdate(want, { n }, HYPER);
      k.adamwUpdate({ params, grads, m, v }, { n }, HYPER);
      // m, v: a few float32 roundings of terms up to ~0.1 (m) and ~0.01 (v); params move by ~lr, so the
      // error is relative to lr.
      assertClose(m, want.m, near(0.1), `adamw m n=${n}`);
      assertClose(v, want.v, near(0.01), `adamw v n=${n}`);
      assertClose(params, want.params, near(HYPER.learningRate, 1e-5), `adamw params n=${n}`);
      const norm = k.gradNormSquared({ grads }, { n });
      const wantNorm = gradNormSquared({ grads }, { n });
      if (!(Math.abs(norm - wantNorm) <= 1e-6 * wantNorm)) throw new Error(`grad norm² ${norm} vs ${wantNorm}`);
      // GELU over [-6, 6].
      const x = random(n, 6), dout = random(n), out = alloc(n).fill(NaN), dinp = alloc(n).fill(NaN);
      const wOut = new Float32Array(n), wDinp = new Float32Array(n);
      k.geluForward({ out, inp: x }, { N: n });
      geluForward({ out: wOut, inp: x }, { N: n });
      assertClose(out, wOut, near(1), `gelu out n=${n}`);
      k.geluBackward({ dinp, inp: x, dout }, { N: n });
      geluBackward({ dinp: wDinp, inp: x, dout }, { N: n });
      assertClose(dinp, wDinp, near(1), `gelu dinp n=${n}`);
    }
    for (const [N, V, Vp] of [[1, 1, 1], [3, 7, 8], [5, 97, 100], [4, 50257, 50304]]) {
      cursor = 64;
      const logits = random(N * Vp, 8), targets = new Int32Array(memory.buffer, alloc(N).byteOffset, N);
      for (let i = 0; i < N; i++) targets[i] = (i * 7919) % V;
      const probs = alloc(N * Vp).fill(NaN), losses = alloc(N).fill(NaN);
      const wProbs = new Float32Array(N * Vp), wLosses = new Float32Array(N);
      k.softmaxCrossEntropyForward({ losses, probs, logits, targets }, { N, V, Vp });
      softmaxCrossEntropyForward({ losses: wLosses, probs: wProbs, logits, targets }, { N, V, Vp });
      // probs: ~3 float32 roundings of exp and the division; losses: float64 log of a float64 sum of float32
      // exponentials (relative error ~1e-7 per term).
      assertClose(probs, wProbs, near(0, 1e-6), `probs N=${N} V=${V}`);
      assertClose(losses, wLosses, near(1, 1e-6), `losses N=${N} V=${V}`);
    }
  } finally {
    k.close();
  }
});

Deno.test("pointwise kernels are bit-identical for 1 and 3 threads", async () => {
  cursor = 64;
  const n = 200003;
  const params = random(n), grads = random(n), m = random(n, 0.1), v = random(n, 0.01);
  for (let i = 0; i < n; i++) v[i] = Math.abs(v[i]);
  const x = random(n, 6), dout = random(n), out = alloc(n), dinp = alloc(n);
  const [N, V, Vp] = [6, 3001, 3008];
  const logits = random(N * Vp, 8), probs = alloc(N * Vp), losses = alloc(N);
  const targets = new Int32Array(memory.buffer, alloc(N).byteOffset, N);
  for (let i = 0; i < N; i++) targets[i] = i * 31;
  const start = [params.slice(), m.slice(), v.slice()];
  const results: Float32Array[][] = [];
  const norms: number[] = [];
  for (const threads of [1, 3]) {
    const k = await CpuKernels.create(memory, threads, { parallelMinFlops: 0 });
    try {
      params.set(start[0]);
      m.set(start[1]);
      v.set(start[2]);
      k.adamwUpdate({ params, grads, m, v }, { n }, HYPER);
      norms.push(k.gradNormSquared({ grads }, { n }));
      k.geluForward({ out, inp: x }, { N: n });
      k.geluBackward({ dinp, inp: x, dout }, { N: n });
      k.softmaxCrossEntropyForward({ losses, probs, logits, targets }, { N, V, Vp });
      results.push([params, m, v, out, dinp, probs, losses].map((a) => a.slice()));
    } finally {
      k.close();
    }
  }
  if (!Object.is(norms[0], norms[1])) throw new Error(`grad norm² ${norms[0]} vs ${norms[1]}`);
  results[0].forEach((a, j) => {
    for (let i = 0; i < a.length; i++) {
      if (!Object.is(a[i], results[1][j][i])) throw new Error(`output ${j} [${i}]: ${a[i]} vs ${results[1][j][i]}`);
    }
  });
});
