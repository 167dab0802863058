import { softmaxCrossEntropyBackward, softmaxCrossEntropyForward } from "../../layers/softmax_crossentropy.ts";
import { assertClose } from "../_assert.ts";
import { randn, randomTokens, rng } from "../_random.ts";
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
