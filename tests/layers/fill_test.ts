/** The zero fill in its forms: the CPU reference and the GPU kernel clear exactly the first n elements. */
import { zero } from "../../layers/fill.ts";
import { assertClose } from "../_assert.ts";
import { rng, uniform } from "../_random.ts";
import { adapterAvailable, testOps, upload } from "../gpu/_helpers.ts";

Deno.test("zero: cpu clears out[0 .. n) and leaves the rest", () => {
  const out = uniform(rng(3), 37).map((x) => x + 2); // in [1, 3): no element is already zero
  const rest = out.slice(29);
  zero.cpu({ out }, { n: 29 });
  assertClose(out.subarray(0, 29), new Float32Array(29), { atol: 0, rtol: 0 }, "cleared");
  assertClose(out.subarray(29), rest, { atol: 0, rtol: 0 }, "untouched");
});

Deno.test({
  name: "zero: gpu clears 1001 elements",
  ignore: !adapterAvailable,
  fn: async () => {
    const ops = await testOps();
    const N = 1001;
    const t = await upload(ops, uniform(rng(1), N, 4));
    ops.run(zero, { out: t }, { n: t.length });
    assertClose(await ops.read(t), new Float32Array(N), { atol: 0, rtol: 0 }, "zero");
  },
});
