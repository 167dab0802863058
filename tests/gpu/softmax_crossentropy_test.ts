/**
 * GPU fused softmax + cross-entropy forward/backward against the CPU layer (layers/softmax_crossentropy.ts), with
 * vocabulary padding (V = 97 of Vp = 128: padded columns must get probability and gradient 0 even though their
 * logits hold garbage) and without (V = Vp = 40), on 33 and 1 rows. Outputs are NaN-poisoned.
 */
import {
  softmaxCrossEntropy,
  softmaxCrossEntropyBackward,
  softmaxCrossEntropyForward,
} from "../../layers/softmax_crossentropy.ts";
import { assertClose } from "../_assert.ts";
import { randomTokens, rng, uniform } from "../_random.ts";
import { adapterAvailable, poisoned, testOps, upload, uploadInt } from "./_helpers.ts";

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
        losses: await poisoned(ops, N),
        probs: await poisoned(ops, N * Vp),
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
      const gd = await poisoned(ops, N * Vp);
      ops.run(softmaxCrossEntropy.backward, { dlogits: gd, probs: g.probs, targets: g.targets }, { N, V, Vp, dloss });
      const d3 = assertClose(await ops.read(gd), dlogits, tol, "dlogits");
      console.log(`  max abs diff ${Math.max(d1, d2, d3).toExponential(1)}`);
    },
  });
}
