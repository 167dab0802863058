/**
 * The `gpu` form of `matmul` (layers/matmul.ts) against the scalar reference, outputs NaN-poisoned: through the
 * tiled kernel (with split-K forced), the small-output and few-row kernels, BK = 8 and 16, whole tiles (EXACT),
 * pipelined fragments, two staged tiles, on sizes that are not multiples of the 128×128 tile or of 4, a single row,
 * a product that crosses tile edges in both dimensions, with and without bias. The CPU forms: matmul_test.ts.
 */
import assert from "node:assert/strict";
import { createGpuExecutor, type GpuExecutor } from "../../gpu/executor.ts";
import { gemm, GEMM_ROWS_MAX, wavedSlices } from "../../gpu/_gemm.ts";
import { matmul, matmulBackward, matmulForward } from "../../layers/matmul.ts";
import { assertClose } from "../_assert.ts";
import { rng, uniform } from "../_random.ts";
import { adapterAvailable, defaultOps, poisoned as gpuPoisoned, testOps, upload } from "../gpu/_helpers.ts";

/** f32 sums of K products of values in [-1, 1] against the CPU's float64 sums: ~K·2⁻²⁴ worst case, plus slack. */
function tolerance(K: number) {
  return { atol: 2e-7 * K + 1e-6, rtol: 1e-6 };
}

async function checkGpu(
  ops: GpuExecutor,
  N: number,
  C: number,
  OC: number,
  withBias: boolean,
  seed: number,
  aligned = false, // every tensor's start a multiple of 4 floats (else odd starts)
) {
  const pad = (p: number) => (aligned ? 4 * p : p);
  const inp = uniform(rng(seed), N * C);
  const weight = uniform(rng(seed + 1), OC * C);
  const bias = withBias ? uniform(rng(seed + 2), OC) : undefined;
  const out = new Float32Array(N * OC);
  matmulForward({ out, inp, weight, bias }, { N, C, OC });
  const g = {
    out: await gpuPoisoned(ops, N * OC, pad(7)),
    inp: await upload(ops, inp, pad(3)),
    weight: await upload(ops, weight, pad(1)),
    bias: bias ? await upload(ops, bias, pad(2)) : undefined,
  };
  ops.run(matmul.forward, g, { N, C, OC });
  const fwd = assertClose(await ops.read(g.out), out, tolerance(C), "out");

  const dout = uniform(rng(seed + 3), N * OC);
  const dinp = new Float32Array(N * C);
  const dweight = uniform(rng(seed + 4), OC * C); // accumulated into: start from non-zero values
  const dbias = uniform(rng(seed + 5), OC);
  const gb = {
    dinp: await gpuPoisoned(ops, N * C, pad(7)),
    dweight: await upload(ops, dweight, pad(9)),
    dbias: withBias ? await upload(ops, dbias, pad(11)) : undefined,
    dout: await upload(ops, dout, pad(3)),
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

const GPU_SHAPES: [number, number, number, boolean][] = [
  [33, 30, 97, true], // nothing a multiple of 4 or of the tile
  [1, 4, 1, true], // a single row and column
  [130, 64, 200, true], // crosses tile edges in M and N; split-K over N = 130
  [5, 130, 3, false], // K crosses a tile; no bias
  [3, 77, 130, true], // a few rows (matmul_rows, as decoding runs): K not a multiple of the 32 lanes, N of 8 teams
  [2, 1000, 9, false], // a few rows over a long K (split along K under the test options)
];

let rows: Promise<GpuExecutor> | undefined;
for (const [N, C, OC, bias] of GPU_SHAPES) {
  Deno.test({
    name: `gpu matmul N=${N} C=${C} OC=${OC}${
      bias ? " +bias" : ""
    }: tiled (BK 8, split-K), small and rows kernels vs CPU`,
    ignore: !adapterAvailable,
    fn: async () => {
      const tiled = await checkGpu(await testOps(), N, C, OC, bias, N + C + OC);
      const small = await checkGpu(await defaultOps(), N, C, OC, bias, N + C + OC);
      // matmul_rows (off on software adapters by default): the forward product of up to GEMM_ROWS_MAX rows.
      rows ??= createGpuExecutor({ rowsMatmulMaxRows: GEMM_ROWS_MAX });
      const few = N <= GEMM_ROWS_MAX ? await checkGpu(await rows, N, C, OC, bias, N + C + OC) : undefined;
      console.log(
        `  max abs diff: tiled ${tiled.toExponential(1)}, default ${small.toExponential(1)}, rows ${
          few?.toExponential(1) ?? "-"
        }`,
      );
    },
  });
}

Deno.test("split-K against waves of workgroups: fewer slices where the last wave would be mostly idle", () => {
  const o = { waveSlots: 264, sliceOverheadK: 256 };
  // d12 at B=16 (K = 16384): the qkv weight gradient's 108 tiles in 10 slices are 4.09 waves of 264 (five waves for
  // the work of four); 7 slices are 2.86 waves of longer slices. 1.14x faster on the H200 (35.8 → 38.4 TFLOP/s).
  assert.equal(wavedSlices(108, 16384, 10, o), 7);
  // Unknown slots: the most slices allowed, as before the wave model.
  assert.equal(wavedSlices(108, 16384, 10, { ...o, waveSlots: 0 }), 10);
  // Many tiles, few slots: one slice (a split would only add waves).
  assert.equal(wavedSlices(768, 768, 4, o), 1);
});

Deno.test({
  name: "gpu matmul, split-K by the wave model (waveSlots) vs CPU",
  ignore: !adapterAvailable,
  fn: async () => {
    // 256×64×128 as below, dweight's one 128×64 tile over K = 256: with 5 slots, 16 slices of 16 (4 waves) lose
    // to 4 of 64 (one wave of 4) in the model, so the product takes 4 slices (the plain target: 16).
    assert.equal(wavedSlices(1, 256, 16, { waveSlots: 5, sliceOverheadK: 16 }), 4);
    const ops = await createGpuExecutor({
      splitK: { targetWorkgroups: 64, minChunk: 16, waveSlots: 5, sliceOverheadK: 16 },
      smallMatmulMaxOutputs: 0,
    });
    console.log(`  max abs diff: ${(await checkGpu(ops, 256, 64, 128, true, 9)).toExponential(1)}`);
  },
});

Deno.test({
  name:
    "gpu matmul, whole tiles (EXACT: no bounds checks), pipelined fragments at BK 8 and 16, two staged tiles, vs CPU",
  ignore: !adapterAvailable,
  fn: async () => {
    // 256×64×128: forward (256×128 over K = 64), dinp (256×64, the 64-wide tile, K = 128) and dweight (128×64 over
    // K = 256, split along K in slices of 16) are all whole tiles, so every product takes the unchecked loads;
    // 200×40×130 is ragged everywhere (the checked loads).
    const diffs = [];
    for (const pipelined of [false, true]) {
      const ops = await createGpuExecutor({
        splitK: { targetWorkgroups: 64, minChunk: 16 },
        smallMatmulMaxOutputs: 0,
        matmulPipelineFragments: pipelined,
      });
      const name = pipelined ? "pipelined" : "exact";
      diffs.push(`${name} ${(await checkGpu(ops, 256, 64, 128, true, 5)).toExponential(1)}`);
      // Ragged sizes take the checked loads; their pipelined form differs from the exact one only in those loads,
      // so it is left out (three more llvmpipe compiles, ~10 s of a cold CI run).
      if (!pipelined) diffs.push(`${name} (ragged) ${(await checkGpu(ops, 200, 40, 130, true, 6)).toExponential(1)}`);
    }
    // BK = 16 pipelined, the forward product only (each BK = 16 pipeline takes ~14 s to compile on llvmpipe).
    const ops = await createGpuExecutor({ matmulBK: 16, smallMatmulMaxOutputs: 0, matmulPipelineFragments: true });
    const [N, C, OC] = [256, 48, 128];
    const inp = uniform(rng(7), N * C), weight = uniform(rng(8), OC * C);
    const out = new Float32Array(N * OC);
    matmulForward({ out, inp, weight }, { N, C, OC });
    const g = { out: await gpuPoisoned(ops, N * OC), inp: await upload(ops, inp), weight: await upload(ops, weight) };
    ops.run(matmul.forward, g, { N, C, OC });
    diffs.push(`pipelined BK 16 ${assertClose(await ops.read(g.out), out, tolerance(C), "out").toExponential(1)}`);
    // Two staged tiles by turns, at the adapter's BK (16 on GPUs, 8 here: K = 48 is 3 or 6 K steps, so both tiles
    // are filled and reused), the forward product.
    const db = await createGpuExecutor({ smallMatmulMaxOutputs: 0, matmulDoubleBuffer: true });
    const g2 = { out: await gpuPoisoned(db, N * OC), inp: await upload(db, inp), weight: await upload(db, weight) };
    db.run(matmul.forward, g2, { N, C, OC });
    diffs.push(`double-buffered ${assertClose(await db.read(g2.out), out, tolerance(C), "out").toExponential(1)}`);
    // GPUs' default for the products whose B is n-contiguous (the input and weight gradients): K tiles of 8, two
    // staged by turns; the forward and both gradients.
    const nContig = await createGpuExecutor({ smallMatmulMaxOutputs: 0, matmulDoubleBufferNContigB: true });
    diffs.push(`n-contiguous B double-buffered ${(await checkGpu(nContig, 256, 64, 128, true, 9)).toExponential(1)}`);
    console.log(`  max abs diff: ${diffs.join(", ")}`);
  },
});

Deno.test({
  name: "gpu matmul, vec4 loads (VEC4_A, VEC4_B, VEC4_AK along k) at K tiles of 8 and 16, whole tiles, vs CPU",
  ignore: !adapterAvailable,
  fn: async () => {
    // 256×128×256 with every tensor 4-aligned: the forward reads inp and dinp reads dout a vec4 along k (VEC4_AK),
    // dinp reads the weight (B, n-contiguous) and dweight doutᵀ (A, m-contiguous) and inp (B) a vec4 across rows or
    // columns, dweight in K slices of 16. At the adapter's K tiles (8 on llvmpipe) and at 16 (the forward's on GPUs).
    const diffs = [];
    for (const bk of [undefined, 16] as const) {
      const ops = await createGpuExecutor({
        splitK: { targetWorkgroups: 64, minChunk: 16 },
        smallMatmulMaxOutputs: 0,
        matmulVec4Loads: true,
        matmulVec4AlongK: true,
        matmulBK: bk,
      });
      // Which vec4 views the tiled dispatches took (the test is void if the launcher declined them).
      const taken = new Set<string>();
      const dispatch = ops.runtime.dispatch.bind(ops.runtime);
      ops.runtime.dispatch = (spec) => {
        for (const view of ["VEC4_A", "VEC4_B", "VEC4_AK"]) if (spec.overrides?.[view]) taken.add(view);
        dispatch(spec);
      };
      diffs.push(`BK ${bk ?? "default"} ${(await checkGpu(ops, 256, 128, 256, true, 23, true)).toExponential(1)}`);
      assert.deepEqual([...taken].sort(), ["VEC4_A", "VEC4_AK", "VEC4_B"]);
    }
    console.log(`  max abs diff: ${diffs.join(", ")}`);
  },
});

Deno.test({
  name: "gpu matmul BK=16 (the GPU tile depth): k-contiguous and m/n-contiguous tile loaders vs CPU",
  ignore: !adapterAvailable,
  fn: async () => {
    // Two products cover the four BK = 16 loader branches (one pipeline; ~17 s to compile on a cold llvmpipe cache):
    // the forward matmul (A and B contiguous along K) and c = Aᵀ·B with A (K,M), B (K,N) (contiguous along M, N).
    const ops = await createGpuExecutor({
      matmulBK: 16,
      matmulBKNContigB: 16, // (GPUs take 8 where B is n-contiguous, tested above)
      matmulDoubleBufferNContigB: false,
      smallMatmulMaxOutputs: 0,
    });
    // The executor's own tuning, with one K slice and the bounds-checked kernel (the loaders under test).
    const splitK = { ...ops.launch.gemm.splitK, targetWorkgroups: 1, minChunk: 16 };
    const opts = { ...ops.launch.gemm, splitK, rowsMaxRows: 0, exact: false };
    const [N, C, OC] = [130, 40, 131];
    const inp = uniform(rng(1), N * C);
    const weight = uniform(rng(2), OC * C);
    const bias = uniform(rng(3), OC);
    const out = new Float32Array(N * OC);
    matmulForward({ out, inp, weight, bias }, { N, C, OC });
    const g = { out: await gpuPoisoned(ops, N * OC), inp: await upload(ops, inp), weight: await upload(ops, weight) };
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
    const gc = await gpuPoisoned(ops, C * OC);
    gemm(ops.runtime, {
      M: C,
      N: OC,
      K: N,
      a: { t: g.inp, start: 0, sm: 1, sk: C },
      b: { t: g.out, start: 0, sk: OC, sn: 1 },
      c: { t: gc, start: 0, sm: OC },
    }, opts);
    const prod = assertClose(await ops.read(gc), c, { atol: 1e-5 * N, rtol: 1e-6 }, "inpᵀ·out"); // |out| ≲ C
    // B the larger operand (N > M), so the tiles are walked M first (m_fastest): 3 ragged tile rows × 5 tile columns,
    // the forward layout (the same pipeline). A tile the order missed stays NaN.
    const [GM, GK, GN] = [300, 40, 600];
    const ga = uniform(rng(4), GM * GK), gb = uniform(rng(5), GN * GK);
    const grouped = new Float32Array(GM * GN);
    matmulForward({ out: grouped, inp: ga, weight: gb }, { N: GM, C: GK, OC: GN });
    const gg = { a: await upload(ops, ga), b: await upload(ops, gb), c: await gpuPoisoned(ops, GM * GN) };
    gemm(ops.runtime, {
      M: GM,
      N: GN,
      K: GK,
      a: { t: gg.a, start: 0, sm: GK, sk: 1 },
      b: { t: gg.b, start: 0, sk: 1, sn: GK },
      c: { t: gg.c, start: 0, sm: GN },
    }, opts);
    const grp = assertClose(await ops.read(gg.c), grouped, tolerance(GK), "M first");
    console.log(
      `  max abs diff: forward ${fwd.toExponential(1)}, transposed ${prod.toExponential(1)}, ` +
        `M first ${grp.toExponential(1)}`,
    );
  },
});
