/**
 * GPU matmul forward/backward against the CPU layer (layers/matmul.ts) on awkward shapes: sizes that are not
 * multiples of the 128×128 tile or of 4, a single row, a product that crosses tile edges in both dimensions, with
 * and without bias; through the tiled kernel (with split-K forced), the small-output kernel and BK = 8 and 16.
 * Outputs are poisoned with NaN; dweight and dbias start from random values to check that they accumulate.
 */
import { matmul, matmulBackward, matmulForward } from "../../layers/matmul.ts";
import { createGpuExecutor, type GpuExecutor } from "../../gpu/executor.ts";
import { gemm } from "../../gpu/_gemm.ts";
import { assertClose } from "../_assert.ts";
import { rng, uniform } from "../_random.ts";
import { adapterAvailable, defaultOps, poisoned, testOps, upload } from "./_helpers.ts";

/** f32 sums of K products of values in [-1, 1] against the CPU's float64 sums: ~K·2⁻²⁴ worst case, plus slack. */
function tolerance(K: number) {
  return { atol: 2e-7 * K + 1e-6, rtol: 1e-6 };
}

async function check(ops: GpuExecutor, N: number, C: number, OC: number, withBias: boolean, seed: number) {
  const inp = uniform(rng(seed), N * C);
  const weight = uniform(rng(seed + 1), OC * C);
  const bias = withBias ? uniform(rng(seed + 2), OC) : undefined;
  const out = new Float32Array(N * OC);
  matmulForward({ out, inp, weight, bias }, { N, C, OC });
  const g = {
    out: await poisoned(ops, N * OC),
    inp: await upload(ops, inp),
    weight: await upload(ops, weight, 1),
    bias: bias ? await upload(ops, bias, 2) : undefined,
  };
  ops.run(matmul.forward, g, { N, C, OC });
  const fwd = assertClose(await ops.read(g.out), out, tolerance(C), "out");

  const dout = uniform(rng(seed + 3), N * OC);
  const dinp = new Float32Array(N * C);
  const dweight = uniform(rng(seed + 4), OC * C); // accumulated into: start from non-zero values
  const dbias = uniform(rng(seed + 5), OC);
  const gb = {
    dinp: await poisoned(ops, N * C),
    dweight: await upload(ops, dweight, 9),
    dbias: withBias ? await upload(ops, dbias, 11) : undefined,
    dout: await upload(ops, dout),
    inp: g.inp,
    weight: g.weight,
  };
  matmulBackward({ dinp, dweight, dbias: withBias ? dbias : undefined, dout, inp, weight }, { N, C, OC });
  ops.run(matmul.backward, gb, { N, C, OC });
  const bwd = [
    assertClose(await ops.read(gb.dinp), dinp, tolerance(OC), "dinp"),
    assertClose(await ops.read(gb.dweight), dweight, tolerance(N), "dweight"),
    gb.dbias ? assertClose(await ops.read(gb.dbias), dbias, tolerance(N), "dbias") : 0,
  ];
  return Math.max(fwd, ...bwd);
}

const SHAPES: [number, number, number, boolean][] = [
  [33, 30, 97, true], // nothing a multiple of 4 or of the tile
  [1, 4, 1, true], // a single row and column
  [130, 64, 200, true], // crosses tile edges in M and N; split-K over N = 130
  [5, 130, 3, false], // K crosses a tile; no bias
];

for (const [N, C, OC, bias] of SHAPES) {
  Deno.test({
    name: `gpu matmul N=${N} C=${C} OC=${OC}${bias ? " +bias" : ""}: tiled (BK 8, split-K) and small kernels vs CPU`,
    ignore: !adapterAvailable,
    fn: async () => {
      const tiled = await check(await testOps(), N, C, OC, bias, N + C + OC);
      const small = await check(await defaultOps(), N, C, OC, bias, N + C + OC);
      console.log(`  max abs diff: tiled ${tiled.toExponential(1)}, default ${small.toExponential(1)}`);
    },
  });
}

Deno.test({
  name: "gpu matmul BK=16 (the GPU tile depth): k-contiguous and m/n-contiguous tile loaders vs CPU",
  ignore: !adapterAvailable,
  fn: async () => {
    // Two products cover the four BK = 16 loader branches (one pipeline; ~17 s to compile on a cold llvmpipe cache):
    // the forward matmul (A and B contiguous along K) and c = Aᵀ·B with A (K,M), B (K,N) (contiguous along M, N).
    const ops = await createGpuExecutor({ matmulBK: 16, smallMatmulMaxOutputs: 0 });
    const opts = { bk: 16 as const, splitK: { targetWorkgroups: 1, minChunk: 16 }, smallMaxOutputs: 0 };
    const [N, C, OC] = [130, 40, 131];
    const inp = uniform(rng(1), N * C);
    const weight = uniform(rng(2), OC * C);
    const bias = uniform(rng(3), OC);
    const out = new Float32Array(N * OC);
    matmulForward({ out, inp, weight, bias }, { N, C, OC });
    const g = { out: await poisoned(ops, N * OC), inp: await upload(ops, inp), weight: await upload(ops, weight) };
    ops.run(matmul.forward, { ...g, bias: await upload(ops, bias) }, { N, C, OC });
    const fwd = assertClose(await ops.read(g.out), out, tolerance(C), "out");
    // c (C,OC) = inpᵀ (C,N) · out (N,OC): both operands contiguous along the output index.
    const c = new Float32Array(C * OC);
    for (let m = 0; m < C; m++) {
      for (let n = 0; n < OC; n++) {
        let sum = 0;
        for (let k = 0; k < N; k++) sum += inp[k * C + m] * out[k * OC + n];
        c[m * OC + n] = sum;
      }
    }
    const gc = await poisoned(ops, C * OC);
    gemm(ops.runtime, {
      M: C,
      N: OC,
      K: N,
      a: { t: g.inp, start: 0, sm: 1, sk: C },
      b: { t: g.out, start: 0, sk: OC, sn: 1 },
      c: { t: gc, start: 0, sm: OC },
    }, opts);
    const prod = assertClose(await ops.read(gc), c, { atol: 1e-5 * N, rtol: 1e-6 }, "inpᵀ·out"); // |out| ≲ C
    console.log(`  max abs diff: forward ${fwd.toExponential(1)}, transposed ${prod.toExponential(1)}`);
  },
});
