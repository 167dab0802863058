/**
 * CpuKernels' pointwise kernels (AdamW, squared gradient norm, GELU, softmax + cross-entropy forward and its
 * in-place backward) give bit-identical results for 1 and 3 threads, on a length that splits into many chunks. Their
 * agreement with the scalar reference layers is tested with each op in tests/layers/<op>_test.ts.
 */
import { CpuKernels } from "../../cpu/kernels.ts";
import { Arena, HYPER } from "./_wasm.ts";

// Views of one shared memory whose starts are not always 16-byte aligned.
const arena = new Arena({ mib: 32, seed: 7, skew: (n) => 4 * (n % 5) });

Deno.test("pointwise kernels are bit-identical for 1 and 3 threads", async () => {
  arena.reset();
  const n = 200003;
  const params = arena.random(n), grads = arena.random(n), m = arena.random(n, 0.1), v = arena.random(n, 0.01);
  for (let i = 0; i < n; i++) v[i] = Math.abs(v[i]);
  const x = arena.random(n, 6), dout = arena.random(n), out = arena.alloc(n), dinp = arena.alloc(n);
  const [N, V, Vp] = [6, 3001, 3008];
  const logits = arena.random(N * Vp, 8), lse = arena.alloc(N), losses = arena.alloc(N), dlogits = arena.alloc(N * Vp);
  const targets = new Int32Array(arena.memory.buffer, arena.alloc(N).byteOffset, N);
  for (let i = 0; i < N; i++) targets[i] = i * 31;
  const start = [params.slice(), m.slice(), v.slice()];
  const results: Float32Array[][] = [];
  const norms: number[] = [];
  for (const threads of [1, 3]) {
    const k = await CpuKernels.create(arena.memory, threads, { parallelMinFlops: 0 });
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
