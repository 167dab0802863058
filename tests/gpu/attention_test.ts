/**
 * GPU causal attention forward/backward against the CPU layer (layers/attention.ts): head size 10 with three
 * heads (C = 30, not a multiple of 4), T = 1, and T = 130 (the score matrices cross a 128 tile edge), through the
 * tiled matmul (testOps) and the production defaults. Outputs are NaN-poisoned; att is checked in full (zeros above
 * the diagonal), preatt and the backward scratch (datt, dpreatt) on and below the diagonal, where the op defines
 * them.
 */
import { attention, attentionBackward, attentionForward } from "../../layers/attention.ts";
import type { GpuExecutor } from "../../gpu/executor.ts";
import { assertClose } from "../_assert.ts";
import { rng, uniform } from "../_random.ts";
import { adapterAvailable, defaultOps, poisoned, testOps, upload } from "./_helpers.ts";

// Scores are sums of hs ≤ 16 products, softmax sums of T ≤ 130 terms, outputs weighted sums of T values, all in f32
// against the CPU's float64: 2e-6 absolute plus 1e-5 relative leaves a margin of about 10× on these sizes.
const TOL = { atol: 2e-6, rtol: 1e-5 };

async function check(ops: GpuExecutor, B: number, T: number, C: number, NH: number, seed: number): Promise<number> {
  const TT = B * NH * T * T;
  const lower = (i: number) => (i % T) <= Math.floor(i / T) % T; // t2 ≤ t of element i of (B,NH,T,T)
  const inp = uniform(rng(seed), B * T * 3 * C);
  const out = new Float32Array(B * T * C);
  const preatt = new Float32Array(TT);
  const att = new Float32Array(TT);
  attentionForward({ out, preatt, att, inp }, { B, T, C, NH });
  const g = {
    out: await poisoned(ops, B * T * C),
    preatt: await poisoned(ops, TT),
    att: await poisoned(ops, TT),
    inp: await upload(ops, inp),
  };
  ops.run(attention.forward, g, { B, T, C, NH });
  const diffs = [
    assertClose(await ops.read(g.out), out, TOL, "out"),
    assertClose(await ops.read(g.att), att, TOL, "att"),
    assertClose(await ops.read(g.preatt), preatt, { ...TOL, mask: lower }, "preatt"),
  ];

  const dout = uniform(rng(seed + 1), B * T * C);
  const dinp = new Float32Array(B * T * 3 * C);
  const dpreatt = new Float32Array(TT);
  const datt = new Float32Array(TT);
  attentionBackward({ dinp, dpreatt, datt, dout, inp, att }, { B, T, C, NH });
  const gb = {
    dinp: await poisoned(ops, B * T * 3 * C),
    dpreatt: await poisoned(ops, TT),
    datt: await poisoned(ops, TT),
    dout: await upload(ops, dout),
    inp: g.inp,
    att: g.att,
  };
  ops.run(attention.backward, gb, { B, T, C, NH });
  diffs.push(
    assertClose(await ops.read(gb.dinp), dinp, TOL, "dinp"),
    assertClose(await ops.read(gb.datt), datt, { ...TOL, mask: lower }, "datt"),
    assertClose(await ops.read(gb.dpreatt), dpreatt, { ...TOL, mask: lower }, "dpreatt"),
  );
  return Math.max(...diffs);
}

for (const [B, T, C, NH] of [[2, 7, 30, 3], [3, 1, 30, 3], [1, 130, 32, 2]]) {
  Deno.test({
    name: `gpu attention B=${B} T=${T} C=${C} NH=${NH}: forward and backward vs CPU`,
    ignore: !adapterAvailable,
    fn: async () => {
      const tiled = await check(await testOps(), B, T, C, NH, B + T + C);
      const small = await check(await defaultOps(), B, T, C, NH, B + T + C);
      console.log(`  max abs diff: tiled ${tiled.toExponential(1)}, default ${small.toExponential(1)}`);
    },
  });
}
