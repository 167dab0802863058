/**
 * GPU decode-step attention (`kernels/attention_decode.wgsl`) against its CPU twin (`layers/attention.ts`
 * `attentionDecode`) on random qkv rows: head sizes 10 (C = 30, three heads) and 64 (GPT-2's), prefixes shorter
 * and longer than the 128-thread workgroup, inputs at unaligned offsets, the output NaN-poisoned.
 */
import { attention, attentionDecode } from "../../layers/attention.ts";
import { assertClose } from "../_assert.ts";
import { rng, uniform } from "../_random.ts";
import { adapterAvailable, defaultOps, poisoned, upload } from "./_helpers.ts";

// Scores are sums of hs ≤ 64 products, the softmax sums ≤ 301 terms, in f32 against the CPU's float64.
const TOL = { atol: 2e-6, rtol: 1e-5 };

for (const [pos, C, NH] of [[0, 30, 3], [1, 30, 3], [129, 30, 3], [300, 128, 2], [5, 7, 7]]) {
  Deno.test({
    name: `GPU attentionDecode matches the CPU (pos=${pos}, C=${C}, NH=${NH})`,
    ignore: !adapterAvailable,
    async fn() {
      const ops = await defaultOps();
      const inp = uniform(rng(pos * 31 + C), (pos + 1) * 3 * C);
      const expected = new Float32Array(C);
      attentionDecode({ out: expected, inp }, { pos, C, NH });
      const out = await poisoned(ops, C);
      ops.run(attention.decode, { out, inp: await upload(ops, inp) }, { pos, C, NH });
      assertClose(await ops.read(out), expected, TOL, "out");
    },
  });
}
