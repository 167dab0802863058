/**
 * CpuKernels' pointwise kernels (AdamW, squared gradient norm, GELU, softmax + cross-entropy forward and its
 * in-place backward) give bit-identical results for 1 and 3 threads, on a length that splits into many chunks. Their
 * agreement with the scalar reference layers is tested with each op in tests/layers/<op>_test.ts.
 */
import { CpuKernels } from "../../cpu/kernels.ts";
import type { AdamWHyper } from "../../layers/adamw.ts";
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

const HYPER: AdamWHyper = {
  learningRate: 1e-3,
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  weightDecay: 0.01,
  step: 3,
  gradScale: 0.5,
};

Deno.test("pointwise kernels are bit-identical for 1 and 3 threads", async () => {
  cursor = 64;
  const n = 200003;
  const params = random(n), grads = random(n), m = random(n, 0.1), v = random(n, 0.01);
  for (let i = 0; i < n; i++) v[i] = Math.abs(v[i]);
  const x = random(n, 6), dout = random(n), out = alloc(n), dinp = alloc(n);
  const [N, V, Vp] = [6, 3001, 3008];
  const logits = random(N * Vp, 8), lse = alloc(N), losses = alloc(N), dlogits = alloc(N * Vp);
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
      k.softmaxCrossEntropyForward({ losses, lse, logits, targets }, { N, V, Vp });
      dlogits.set(logits);
      k.softmaxCrossEntropyBackward({ dlogits, lse, targets }, { N, V, Vp, dloss: 1 / N });
      results.push([params, m, v, out, dinp, lse, losses, dlogits].map((a) => a.slice()));
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
