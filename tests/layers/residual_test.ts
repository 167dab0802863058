/**
 * The residual add in its forms: the scalar reference and the GPU kernel, both exact (one float32 rounding), on odd
 * lengths with outputs poisoned with NaN.
 */
import { residual, residualForward } from "../../layers/residual.ts";
import { assertClose } from "../_assert.ts";
import { randn, rng, uniform } from "../_random.ts";
import { adapterAvailable, oneWorkgroupOps, poisoned as gpuPoisoned, testOps, upload } from "../gpu/_helpers.ts";
import { poisoned } from "./_check.ts";

Deno.test("residual: out = inp1 + inp2 exactly (one float32 rounding)", () => {
  const r = rng(9);
  const inp1 = randn(r, 31), inp2 = randn(r, 31), out = poisoned(31);
  residualForward({ out, inp1, inp2 }, { N: 31 });
  // The float32 sum of two float32 values equals Math.fround of their exact sum.
  assertClose(out, inp1.map((x, i) => Math.fround(x + inp2[i])), { atol: 0 }, "out");
});

Deno.test({
  name: "residual: gpu on 1001 and 3001 elements (one workgroup's loop) vs CPU",
  ignore: !adapterAvailable,
  fn: async () => {
    // 3001 elements on a grid of one workgroup: three steps of the grid-stride loop, the last one partial.
    for (const [ops, N] of [[await testOps(), 1001], [await oneWorkgroupOps(), 3001]] as const) {
      const inp1 = uniform(rng(1), N, 4);
      const inp2 = uniform(rng(2), N);
      const g = { inp1: await upload(ops, inp1), inp2: await upload(ops, inp2) };
      const sum = new Float32Array(N);
      residualForward({ out: sum, inp1, inp2 }, { N });
      const gsum = await gpuPoisoned(ops, N);
      ops.run(residual.forward, { out: gsum, inp1: g.inp1, inp2: g.inp2 }, { N });
      const d = assertClose(await ops.read(gsum), sum, { atol: 0, rtol: 0 }, `residual N=${N}`); // one f32 add: exact
      console.log(`  max abs diff: residual N=${N} ${d}`);
    }
  },
});
