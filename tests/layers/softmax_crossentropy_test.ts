/**
 * The fused softmax + cross-entropy (layers/softmax_crossentropy.ts) in all its forms. The scalar reference: losses
 * against float64 log-sum-exp, dlogits against finite differences of the mean loss, padded columns ignored. The
 * WebAssembly forward (CpuKernels) against the reference on awkward shapes up to GPT-2's vocabulary. The GPU form
 * against the reference, with vocabulary padding (V = 97 of Vp = 128: padded columns must get probability and
 * gradient 0 even though their logits hold garbage) and without (V = Vp = 40), on 33 and 1 rows. Outputs are
 * NaN-poisoned.
 */
import { CpuKernels } from "../../cpu/kernels.ts";
import {
  softmaxCrossEntropy,
  softmaxCrossEntropyBackward,
  softmaxCrossEntropyForward,
} from "../../layers/softmax_crossentropy.ts";
import { assertClose } from "../_assert.ts";
import { fillUniform, randn, randomTokens, rng, uniform } from "../_random.ts";
import { adapterAvailable, poisoned as gpuPoisoned, testOps, upload, uploadInt } from "../gpu/_helpers.ts";
import { f64, finiteDifferences, poisoned } from "./_check.ts";

/** Float64 per-row cross-entropy over the first V of Vp columns: log Σ_{v<V} exp(logit_v) - logit_target. */
function referenceLosses(logits: ArrayLike<number>, targets: Int32Array, N: number, V: number, Vp: number) {
  return Float64Array.from({ length: N }, (_, n) => {
    let sum = 0;
    for (let v = 0; v < V; v++) sum += Math.exp(logits[n * Vp + v]);
    return Math.log(sum) - logits[n * Vp + targets[n]];
  });
}

for (const [N, V, Vp] of [[5, 11, 16], [1, 7, 7], [3, 200, 256]]) {
  Deno.test(`softmax + cross-entropy N=${N} V=${V} Vp=${Vp}: padded columns ignored, gradient of the mean loss`, () => {
    const r = rng(N * 7 + V);
    const logits = randn(r, N * Vp, 3);
    for (let n = 0; n < N; n++) for (let v = V; v < Vp; v++) logits[n * Vp + v] = 1000; // must not matter
    const targets = randomTokens(r, N, V);
    const losses = poisoned(N), probs = poisoned(N * Vp);
    softmaxCrossEntropyForward({ losses, probs, logits, targets }, { N, V, Vp });
    assertClose(losses, referenceLosses(logits, targets, N, V, Vp), { atol: 1e-6, rtol: 1e-6 }, "losses");
    for (let n = 0; n < N; n++) {
      let sum = 0;
      for (let v = 0; v < V; v++) sum += probs[n * Vp + v];
      for (let v = V; v < Vp; v++) if (probs[n * Vp + v] !== 0) throw new Error(`padded prob ${n},${v} not 0`);
      if (Math.abs(sum - 1) > 1e-6) throw new Error(`row ${n} probs sum to ${sum}`); // V float32 roundings
    }

    const dloss = 1 / N;
    const dlogits = poisoned(N * Vp);
    softmaxCrossEntropyBackward({ dlogits, probs, targets }, { N, V, Vp, dloss });
    const mean = (x: Float64Array) => referenceLosses(x, targets, N, V, Vp).reduce((a, b) => a + b, 0) * dloss;
    const fd = finiteDifferences(mean, f64(logits));
    for (let n = 0; n < N; n++) for (let v = V; v < Vp; v++) fd[n * Vp + v] = 0; // padded: no gradient
    // Written in full (poisoned first); float32 probs vs float64 finite differences.
    assertClose(dlogits, fd, { atol: 1e-6, rtol: 1e-5 }, "dlogits (written)");
  });
}

Deno.test("softmax + cross-entropy: the loss stays finite when the target's probability underflows float32", () => {
  const logits = new Float32Array([200, 0, 0, 0]);
  const losses = new Float32Array(1), probs = new Float32Array(4);
  softmaxCrossEntropyForward({ losses, probs, logits, targets: new Int32Array([1]) }, { N: 1, V: 3, Vp: 4 });
  // exp(-200) underflows float32 but log-sum-exp gives the exact loss 200 + log(1 + 2e^-200) = 200.
  if (losses[0] !== 200) throw new Error(`loss ${losses[0]}, expected 200`);
});

Deno.test("softmax + cross-entropy: wasm forward matches the reference, up to GPT-2's vocabulary", async () => {
  // The kernels' buffers are views of one shared memory; starts not always 16-byte aligned.
  const memory = new WebAssembly.Memory({ initial: 512, maximum: 512, shared: true }); // 32 MiB
  let cursor = 64;
  const alloc = (n: number) => {
    const a = new Float32Array(memory.buffer, cursor, n);
    cursor += Math.ceil((n * 4) / 64) * 64 + 4 * (n % 5);
    return a;
  };
  const r = rng(7);
  const k = await CpuKernels.create(memory, 2, { parallelMinFlops: 0 });
  try {
    for (const [N, V, Vp] of [[1, 1, 1], [3, 7, 8], [5, 97, 100], [4, 50257, 50304]]) {
      cursor = 64;
      const logits = fillUniform(r, alloc(N * Vp), 8);
      const targets = new Int32Array(memory.buffer, alloc(N).byteOffset, N);
      for (let i = 0; i < N; i++) targets[i] = (i * 7919) % V;
      const probs = alloc(N * Vp).fill(NaN), losses = alloc(N).fill(NaN);
      const wProbs = new Float32Array(N * Vp), wLosses = new Float32Array(N);
      k.softmaxCrossEntropyForward({ losses, probs, logits, targets }, { N, V, Vp });
      softmaxCrossEntropyForward({ losses: wLosses, probs: wProbs, logits, targets }, { N, V, Vp });
      // |got - want| <= 1e-6 · (|want| + scale). probs: ~3 float32 roundings of exp and the division (scale 0);
      // losses: float64 log of a float64 sum of float32 exponentials (relative error ~1e-7 per term, scale 1).
      assertClose(probs, wProbs, { atol: 0, rtol: 1e-6 }, `probs N=${N} V=${V}`);
      assertClose(losses, wLosses, { atol: 1e-6, rtol: 1e-6 }, `losses N=${N} V=${V}`);
    }
  } finally {
    k.close();
  }
});

for (const [N, V, Vp] of [[33, 97, 128], [1, 40, 40]]) {
  Deno.test({
    name: `gpu softmax+crossentropy N=${N} V=${V} Vp=${Vp}: probs, losses, dlogits vs CPU`,
    ignore: !adapterAvailable,
    fn: async () => {
      const ops = await testOps();
      const logits = uniform(rng(1), N * Vp, 5);
      for (let n = 0; n < N; n++) logits.fill(1e4, n * Vp + V, (n + 1) * Vp); // padding must be ignored
      const targets = randomTokens(rng(2), N, V);
      const losses = new Float32Array(N);
      const probs = new Float32Array(N * Vp);
      softmaxCrossEntropyForward({ losses, probs, logits, targets }, { N, V, Vp });
      const g = {
        losses: await gpuPoisoned(ops, N),
        probs: await gpuPoisoned(ops, N * Vp),
        logits: await upload(ops, logits),
        targets: await uploadInt(ops, targets),
      };
      ops.run(softmaxCrossEntropy.forward, g, { N, V, Vp });
      // exp and sums of ≤ 97 terms in f32 vs float64; losses are O(log V).
      const tol = { atol: 1e-6, rtol: 1e-5 };
      const d1 = assertClose(await ops.read(g.probs), probs, tol, "probs");
      const d2 = assertClose(await ops.read(g.losses), losses, tol, "losses");
      const dlogits = new Float32Array(N * Vp);
      const dloss = 1 / N;
      softmaxCrossEntropyBackward({ dlogits, probs, targets }, { N, V, Vp, dloss });
      const gd = await gpuPoisoned(ops, N * Vp);
      ops.run(softmaxCrossEntropy.backward, { dlogits: gd, probs: g.probs, targets: g.targets }, { N, V, Vp, dloss });
      const d3 = assertClose(await ops.read(gd), dlogits, tol, "dlogits");
      console.log(`  max abs diff ${Math.max(d1, d2, d3).toExponential(1)}`);
    },
  });
}
