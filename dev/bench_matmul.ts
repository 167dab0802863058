/**
 * Matmul variants side by side: the production launcher and kernel (`gpu/_gemm.ts`, `kernels/matmul.wgsl`) under
 * its tuning switches — bounds checks skipped for whole-tile products (`EXACT`), register fragments pipelined
 * (`PIPELINE_FRAGMENTS`), two staged tiles by turns (`DOUBLE_BUFFER`) and the split-K targets — at GPT-2's shapes,
 * forward and both backward products, timed with GPU timestamps in one process. What it prints says which defaults
 * `GpuExecutorOptions` should have. The f16 variants (issue 13) read an f16 copy of the weight: "f16 weights" computes in
 * float32, "f16 math" in native f16 (runs of 16 or 32 products added into float32) for the products reading the weight
 * or for all three; they run only where the GPU has `shader-f16`.
 *
 *     deno run -A dev/bench_matmul.ts                       # rows 16384 (d12 at B=16, T=1024); 256 on llvmpipe
 *     deno run -A dev/bench_matmul.ts --rows 16384 --reps 7 --channels 1600   # d48's widths
 *     deno run -A dev/bench_matmul.ts --variants "exact, double-buffered"      # only those named (several: joined by ";")
 *     deno run -A dev/bench_matmul.ts --slots     # workgroups each variant runs at once, 128- and 64-wide tiles
 *     deno run -A dev/bench_matmul.ts --residency   # one-tile products n at a time: does a second workgroup a
 *                                                   # processor (n = 264 against 132) add throughput?
 *
 * @module
 */
import { parseArgs } from "node:util";
import { getGpuDevice } from "../gpu/device.ts";
import { measureWaveSlots, probeWaveSlots } from "../gpu/wave_slots.ts";
import { gemm, GEMM_TILE } from "../gpu/_gemm.ts";
import { createGpuExecutor, type GpuExecutor, type GpuExecutorOptions } from "../gpu/executor.ts";
import type { GpuTensor } from "../gpu/tensor.ts";
import { f16Copy } from "../layers/f16_copy.ts";
import { matmul } from "../layers/matmul.ts";

const { values } = parseArgs({
  options: {
    rows: { type: "string" },
    reps: { type: "string", default: "5" },
    channels: { type: "string", default: "768" },
    variants: { type: "string" },
    slots: { type: "boolean", default: false },
    residency: { type: "boolean", default: false },
  },
});

const ALL_VARIANTS: [string, GpuExecutorOptions][] = [
  ["checked", { matmulExact: false, matmulDoubleBuffer: false }],
  ["exact", { matmulExact: true, matmulDoubleBuffer: false }],
  ["checked, pipelined", { matmulExact: false, matmulDoubleBuffer: false, matmulPipelineFragments: true }],
  ["exact, pipelined", { matmulExact: true, matmulDoubleBuffer: false, matmulPipelineFragments: true }],
  ["exact, double-buffered", { matmulExact: true, matmulDoubleBuffer: true }],
  // m-contiguous A and n-contiguous B read four scalar loads a staged vec4 (rows, columns 16 apart), as before
  // vec4 loads (the default).
  ["exact, scalar loads", { matmulExact: true, matmulVec4Loads: false }],
  // vec4 loads along K as well: a k-contiguous A (the forward's inp, the input gradient's dout) read a vec4 a slot.
  ["exact, vec4 along K", { matmulExact: true, matmulVec4AlongK: true }],
  // K tiles of 16 (or 8) in every product; the default is 8, double-buffered, where B is column-contiguous, 16
  // single-buffered elsewhere.
  ["exact, K tiles of 16", { matmulExact: true, matmulBKNContigB: 16, matmulDoubleBufferNContigB: false }],
  ["exact, K tiles of 8 where B is n-contiguous", { matmulExact: true, matmulDoubleBufferNContigB: false }],
  ["exact, K tiles of 8", { matmulExact: true, matmulBK: 8 }],
  ["exact, K tiles of 8, double-buffered", { matmulExact: true, matmulBK: 8, matmulDoubleBuffer: true }],
  // Before SPREAD_COLUMNS: a thread's four columns consecutive, so a warp's stores write each sector in four pieces.
  ["exact, consecutive columns", { matmulExact: true, matmulSpreadColumns: false }],
  // Before SPREAD_ROWS: a thread's four rows consecutive.
  ["exact, consecutive rows", { matmulExact: true, matmulSpreadRows: false }],
  ["exact, double-buffered, pipelined", { matmulExact: true, matmulDoubleBuffer: true, matmulPipelineFragments: true }],
  ["exact, split-K to 2048", { matmulExact: true, splitK: { targetWorkgroups: 2048, minChunk: 512 } }],
  ["exact, split-K to 2048 by 256", { matmulExact: true, splitK: { targetWorkgroups: 2048, minChunk: 256 } }],
  ["exact, split-K to 512", { matmulExact: true, splitK: { targetWorkgroups: 512, minChunk: 512 } }],
  // Split-K as before the wave model: the plain 1024-workgroup target ("exact" measures the GPU's slots and uses them).
  ["exact, no wave model", { matmulExact: true, splitK: { waveSlots: 0, targetWorkgroups: 1024 } }],
  // Slice counts chosen against waves of workgroups (`SplitKOptions.waveSlots`: 264 = 132 SMs × 2 workgroups).
  ["exact, waves of 264", { matmulExact: true, splitK: { waveSlots: 264 } }],
  ["exact, waves of 264, to 2048", { matmulExact: true, splitK: { waveSlots: 264, targetWorkgroups: 2048 } }],
  ["exact, waves of 264, overhead 128", { matmulExact: true, splitK: { waveSlots: 264, sliceOverheadK: 128 } }],
  ["exact, waves of 264, overhead 512", { matmulExact: true, splitK: { waveSlots: 264, sliceOverheadK: 512 } }],
  ["exact, waves of 132", { matmulExact: true, splitK: { waveSlots: 132 } }],
  // The split-K model's cost of a slice's start and store (`SplitKOptions.sliceOverheadK`, default 128).
  ["exact, slice overhead 256", { matmulExact: true, splitK: { sliceOverheadK: 256 } }],
  ["exact, slice overhead 512", { matmulExact: true, splitK: { sliceOverheadK: 512 } }],
  ["exact, f16 weights", { matmulExact: true }],
  ["exact, f16 math", { matmulExact: true, matmulF16Math: "weights" }],
  ["exact, f16 math, runs of 32", { matmulExact: true, matmulF16Math: "weights", matmulF16Run: 2 }],
  ["exact, f16 math, rounded staging", { matmulExact: true, matmulF16Math: "weights", matmulF16StageNearest: true }],
  // A diagnostic, not a candidate: one f16 run over all of K (no float32 sums live in the loop, and far less
  // accurate). As fast as float32 or faster: the f16 arithmetic is fine and the two sets of accumulators (the
  // registers they take) are what slows the f16 kernel; as slow as the others: the f16 arithmetic itself is.
  ["exact, f16 math, one run", { matmulExact: true, matmulF16Math: "weights", matmulF16Run: 2 ** 30 }],
  ["exact, f16 math, 128×64 tiles", { matmulExact: true, matmulF16Math: "weights", matmulF16NarrowTiles: true }],
  ["exact, f16 math in all", { matmulExact: true, matmulF16Math: "all" }],
];
/** Whether a variant reads an f16 copy of the weight (its name says so). */
const readsF16 = (name: string) => name.includes("f16");
const wanted = values.variants?.split(";").map((name) => name.trim());
const unknown = wanted?.filter((name) => !ALL_VARIANTS.some(([known]) => known === name)) ?? [];
if (unknown.length > 0) {
  console.error(`--variants: no variant "${unknown[0]}" (${ALL_VARIANTS.map(([name]) => name).join("; ")})`);
  Deno.exit(1);
}
const { hasF16 } = await getGpuDevice();
const VARIANTS = ALL_VARIANTS.filter(([name]) => (!wanted || wanted.includes(name)) && (hasF16 || !readsF16(name)));
if (!hasF16) console.log("(no shader-f16 on this GPU: the f16 variants are left out)");
const executors = await Promise.all(VARIANTS.map(([, options]) => createGpuExecutor(options)));
const first = executors[0];
if (!first.profiler) {
  console.error(`${first.description}: no timestamp-query, so no per-kernel times`);
  Deno.exit(1);
}
const fallback = first.runtime.ctx.isFallback;
const N = Number(values.rows ?? (fallback ? 256 : 16384));
const reps = Number(values.reps);
/** GPU work before each timing: ~100 ms at 40 TFLOP/s (a tenth of it on software adapters). */
const WARM_FLOP = first.runtime.ctx.isFallback ? 0 : 4e12;
const C = Number(values.channels);
const PATTERN = Float32Array.from({ length: 65537 }, () => Math.random() - 0.5); // odd length: no aligned repeats
const SHAPES: [string, number, number][] = [
  ["qkv", C, 3 * C],
  ["attproj", C, C],
  ["fc", C, 4 * C],
  ["fcproj", 4 * C, C],
  ["classifier", C, 50304],
];

/**
 * Per product ("forward", "dinp", "dweight"), the mean GPU ms of one call over `reps` calls made back to back in
 * one submission (a wait between calls would let the GPU's clocks drop, and the short products would be timed at
 * idle clocks), after untimed calls worth `WARM_FLOP` (at least `reps` of them) to warm the clocks up: a fixed
 * count of warm-up calls left the small products (attproj, 19 GFLOP) timed at 15 TFLOP/s beside 38 for the large.
 */
async function time(ops: GpuExecutor, flop: number, run: () => void): Promise<Map<string, number>> {
  const warm = Math.max(reps, Math.ceil(WARM_FLOP / flop));
  for (let i = 0; i < warm; i++) run(); // compiles the pipelines, raises the clocks
  ops.profiler!.start();
  for (let i = 0; i < reps; i++) run();
  const means = new Map<string, number>();
  for (const row of await ops.profiler!.stop()) {
    // per op call (a row counts passes: a split-K product makes two per call)
    means.set(row.name.includes("›") ? row.name.split("› ").pop()! : "forward", row.ms / reps);
  }
  return means;
}

console.log(
  `${first.description}; rows N = ${N}, C = ${C}; mean of ${reps} back-to-back calls each, GPU timestamps; TFLOP/s`,
);
console.log(
  `workgroup slots measured for split-K (measureWaveSlots): ${await measureWaveSlots(
    first.runtime,
    first.launch.gemm,
  )}\n`,
);
if (values.slots) {
  // How many workgroups of each variant's kernel run side by side, 128- and 64-wide tiles (a kernel that fits
  // fewer at once, by its registers or workgroup memory, hides less of its loads, barriers and stores).
  console.log(`| workgroup slots | ${VARIANTS.map(([name]) => name).join(" | ")} |`);
  console.log(`| --- | ${VARIANTS.map(() => "---:").join(" | ")} |`);
  for (const width of [128, 64] as const) {
    const slots = [];
    for (const ops of executors) slots.push(await probeWaveSlots(ops.runtime, ops.launch.gemm, width));
    console.log(`| 128×${width} tiles | ${slots.join(" | ")} |`);
  }
  Deno.exit(0);
}
if (values.residency) {
  // n one-tile (128×128) products over K = 2048 at once, same operands (compute-bound), for B read along K (the
  // forward layout) and along N (the gradients'). On a GPU of P processors, n = 2P against n = P: twice the time if
  // a processor runs one workgroup at a time (or two, no faster together); less if a second one resident on it
  // covers the first's waits. Rates are the n products' FLOPs over the pass's time.
  const K = 2048, MOST = 528, COUNTS = [33, 66, 132, 198, 264, 396, 528];
  console.log(`| variant | layout | ${COUNTS.map((n) => `n = ${n}`).join(" | ")} |`);
  console.log(`| --- | --- | ${COUNTS.map(() => "---:").join(" | ")} |`);
  for (const [v, ops] of executors.entries()) {
    const rt = ops.runtime;
    const arena = rt.createArena("residency probe", "f32", 2 * GEMM_TILE * K);
    const ab = { arena, offset: 0, length: arena.length };
    const data = new Float32Array(arena.length); // random operands: zeros draw less power (see below)
    for (let i = 0; i < data.length; i += PATTERN.length) data.set(PATTERN.subarray(0, data.length - i), i);
    ops.write(ab, data);
    const c = rt.scratch(MOST * GEMM_TILE * GEMM_TILE);
    const tiled = { ...ops.launch.gemm, smallMaxOutputs: 0, rowsMaxRows: 0 };
    for (const layout of ["B along K", "B along N"]) {
      const alongN = layout === "B along N";
      const product = (n: number) =>
        gemm(rt, {
          M: GEMM_TILE,
          N: GEMM_TILE,
          K,
          batch: { outer: n, inner: 1 },
          a: { t: ab, start: 0, sm: K, sk: 1, so: 0 },
          b: alongN
            ? { t: ab, start: GEMM_TILE * K, sk: GEMM_TILE, sn: 1, so: 0 }
            : { t: ab, start: GEMM_TILE * K, sk: 1, sn: K, so: 0 },
          c: { t: c, start: 0, sm: GEMM_TILE, so: GEMM_TILE * GEMM_TILE },
        }, tiled);
      for (let i = 0; i < 20; i++) product(MOST); // compiles the pipeline and raises the clocks
      rt.startProfile();
      for (let rep = 0; rep < 3; rep++) for (const n of COUNTS) rt.group(`${n}`, {}, () => product(n));
      const ms = new Map<number, number>();
      for (const row of await rt.stopProfile()) ms.set(Number(row.name), row.ms / 3);
      const cells = COUNTS.map((n) => {
        const t = ms.get(n)!;
        return `${t.toFixed(3)} ms, ${(2 * GEMM_TILE * GEMM_TILE * K * n / t / 1e9).toFixed(1)}`;
      });
      console.log(`| ${VARIANTS[v][0]} | ${layout} | ${cells.join(" | ")} |`);
    }
    for (const segment of arena.segments) segment.buffer.destroy();
  }
  Deno.exit(0);
}
console.log(`| product | N×K×M | ${VARIANTS.map(([name]) => name).join(" | ")} | best |`);
console.log(`| --- | --- | ${VARIANTS.map(() => "---:").join(" | ")} | --- |`);
for (const [name, K, OC] of SHAPES) {
  // One set of operands per shape, shared by the variants (every executor records onto the same device).
  // Random operands: zeros would draw less power than real data, and a GPU at its power limit clocks by it.
  const t = async (n: number): Promise<GpuTensor> => {
    const x = await first.allocate("bench", n);
    const data = new Float32Array(n);
    data.set(PATTERN.subarray(0, Math.min(n, PATTERN.length)));
    for (let i = PATTERN.length; i < n; i *= 2) data.copyWithin(i, 0, Math.min(i, n - i));
    first.write(x, data);
    return x;
  };
  const [inp, weight, bias, out] = [await t(N * K), await t(OC * K), await t(OC), await t(N * OC)];
  const [dinp, dweight, dbias] = [await t(N * K), await t(OC * K), await t(OC)];
  // The weight's f16 copy, for the variants that read one.
  const weight16 = { arena: await first.runtime.allocate("bench f16", "f16", OC * K), offset: 0, length: OC * K };
  first.run(f16Copy.forward, { out: weight16, inp: weight }, { N: OC * K });
  const sizes = { N, C: K, OC };
  const flop = 2 * N * K * OC;
  // Two rounds, the second in reverse order, keeping each variant's faster: the order of variants then favours none.
  const results: Map<string, number>[] = executors.map(() => new Map());
  for (const round of [0, 1]) {
    for (const v of round ? [...executors.keys()].reverse() : executors.keys()) {
      const ops = executors[v];
      const w = readsF16(VARIANTS[v][0]) ? weight16 : weight;
      const times = [
        ...await time(ops, flop, () => ops.run(matmul.forward, { out, inp, weight: w, bias }, sizes)),
        ...await time(
          ops,
          2 * flop,
          () => ops.run(matmul.backward, { dinp, dweight, dbias, dout: out, inp, weight: w }, sizes),
        ),
      ];
      for (const [product, ms] of times) results[v].set(product, Math.min(ms, results[v].get(product) ?? Infinity));
    }
  }
  for (const x of [inp, weight, weight16, bias, out, dinp, dweight, dbias]) {
    for (const s of x.arena.segments) s.buffer.destroy();
  }
  for (const product of ["forward", "dinp", "dweight"]) {
    const tflops = results.map((r) => flop / (r.get(product) ?? NaN) / 1e9);
    const best = tflops.indexOf(Math.max(...tflops));
    const cells = tflops.map((x) => x.toPrecision(3));
    console.log(`| ${name} ${product} | ${N}×${K}×${OC} | ${cells.join(" | ")} | ${VARIANTS[best][0]} |`);
  }
}
