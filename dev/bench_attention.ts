/**
 * Causal attention on the GPU, materialized against flash: the production `attention.forward` / `attention.backward`
 * (layers/attention.ts: (B,NH,T,T) scores through the tiled SGEMM and the row softmax kernels) and
 * `flashAttention.forward` / `flashAttention.backward` (layers/flash_attention.ts), at GPT-2 d12's attention shape by
 * default, through `GpuExecutor` (the launchers and WGSL the trainer uses). Times are GPU timestamps per call (the
 * mean of back-to-back repetitions after as many warm-up calls; wall clock where the adapter has no
 * `timestamp-query`). TFLOP/s count the model's FLOPs for both, 2·B·T²·C forward and 4·B·T²·C backward (the causal
 * halves of the T×T×hs products), so the rates compare like the times; flash's backward does 7·B·T²·C (it
 * recomputes the scores and dout·vᵀ in both kernels). It also prints the largest differences between the two, and
 * the flash backward's kernels.
 *
 * `--sweep` then times every candidate tile of `FLASH_CANDIDATES` that fits the device (its workgroup memory and
 * maxComputeInvocationsPerWorkgroup), TX = 8 and 16 threads per row group alike, for each of the three tiled kernels
 * (forward alone; dq and dk·dv from the backward's profile rows, both taking the candidate where it fits, else the
 * default), and prints a table with the best of each and the `--tiles` flag that selects them. To make that the
 * default, move those tiles to the front of their kernel's list in `FLASH_CANDIDATES`.
 *
 * `--softmax-lanes` times the materialized forward and backward with each number of threads per softmax row
 * (`GpuExecutorOptions.attentionSoftmaxLanes`), and their softmax kernels alone.
 *
 * `--matmul-variants` times the materialized attention as a training step runs it, product by product, under the
 * matmul's defaults, with each of `matmulSpreadColumns` and `matmulSpreadRows` off, with K tiles of 16 where B is
 * column-contiguous (`matmulBKNContigB`) and with the row tiles in grid order (`matmulHeavyFirst`; `GpuExecutorOptions`).
 *
 * A tile is rows x cols, or rows x cols x TX (`FlashTile.threadsPerRowGroup`, TX·rows/4 threads; 8 where not given).
 *
 *     deno run -A dev/bench_attention.ts                       # B=16 T=1024 NH=12 hs=64 (d12)
 *     deno run -A dev/bench_attention.ts --batch 1 --seq 64    # a quick run on llvmpipe
 *     deno run -A dev/bench_attention.ts --tiles forward=64x32x16,dq=64x16x16,dkdv=64x16x16 --reps 20
 *     deno run -A dev/bench_attention.ts --reps 20 --sweep     # every candidate tile, one table
 *     deno run -A dev/bench_attention.ts --softmax-lanes 32,64,128,256   # the materialized softmax kernels' widths
 *     deno run -A dev/bench_attention.ts --reps 20 --matmul-variants   # the products under matmul variants
 *
 * @module
 */
import { parseArgs } from "node:util";
import { createGpuExecutor, type GpuExecutor, type GpuExecutorOptions } from "../gpu/executor.ts";
import { formatProfile } from "../gpu/profiler.ts";
import type { GpuTensor } from "../gpu/tensor.ts";
import { attention } from "../layers/attention.ts";
import {
  FLASH_CANDIDATES,
  flashAttention,
  type FlashTile,
  flashTileBytes,
  type FlashTiles,
  flashTiles,
  flashTileText,
  flashTileThreads,
  parseFlashTiles,
} from "../layers/flash_attention.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    batch: { type: "string", default: "16" },
    seq: { type: "string", default: "1024" },
    heads: { type: "string", default: "12" },
    hs: { type: "string", default: "64" },
    reps: { type: "string", default: "10" },
    tiles: { type: "string" },
    sweep: { type: "boolean", default: false },
    "softmax-lanes": { type: "string" },
    "matmul-variants": { type: "boolean", default: false },
  },
});
const [B, T, NH, hs, reps] = [values.batch, values.seq, values.heads, values.hs, values.reps].map(Number);
const C = NH * hs;
const tiles = values.tiles ? parseTiles(values.tiles) : undefined;

/** "forward=64x16x16,dq=32x16,dkdv=32x16" -> FlashTiles (rows × cols, × TX where given, of each kernel). */
function parseTiles(text: string): FlashTiles {
  const t: Record<string, FlashTile> = {};
  for (const part of text.split(",")) {
    const [name, size] = part.split("=");
    if (size) [t[name]] = parseFlashTiles(size);
  }
  if (!t.forward || !t.dq || !t.dkdv) throw new Error("--tiles needs forward=RxC[xTX],dq=RxC[xTX],dkdv=RxC[xTX]");
  return t as unknown as FlashTiles;
}

const ops = await createGpuExecutor();
const timed = ops.runtime.ctx.hasTimestamps;

/** A tensor of n elements: zeros, or uniform in [-1, 1) with `random`. */
async function tensor(n: number, random = false): Promise<GpuTensor> {
  const t = await ops.allocate("bench", n);
  if (random) ops.write(t, Float32Array.from({ length: n }, () => Math.random() * 2 - 1));
  return t;
}

const probe = await tensor(1); // a read of it waits for everything submitted before

/** Untimed GPU work before each measurement, in ms: the clocks rise over tens of ms of work. */
const WARM_MS = 200;

/**
 * Mean GPU milliseconds of one call of `run` over `reps` calls made back to back, after one call that compiles the
 * pipelines and untimed calls worth `WARM_MS` of GPU time (at least `reps`; their count from one profiled call): in
 * total, and per profile row whose name ends with one of `parts` (GPU timestamps only). With a ~10 ms wait before
 * each call the GPU's clocks dropped: on the H200 the flash forward read 10.98 ms at the start of a run and 2.96 ms
 * later in the same run. With only `reps` warm-up calls the first product timed (the materialized forward, 20 calls
 * of ~2 ms) still read 6.8 ms, against ~1.9 ms a layer in a training step's profile (cold clocks, presumably).
 */
async function measureParts(
  run: () => void,
  parts: string[] = [],
  exec: GpuExecutor = ops,
): Promise<{ total: number; parts: number[] }> {
  run();
  await ops.read(probe);
  let warm = reps;
  if (timed) {
    exec.profiler!.start();
    run();
    const once = (await exec.profiler!.stop()).reduce((s, r) => s + r.ms, 0);
    warm = Math.max(reps, Math.ceil(WARM_MS / Math.max(once, 1e-3)));
  }
  for (let i = 0; i < warm; i++) run();
  if (timed) {
    exec.profiler!.start();
    for (let i = 0; i < reps; i++) run();
    const rows = await exec.profiler!.stop();
    const sum = (rs: typeof rows) => rs.reduce((s, r) => s + r.ms, 0) / reps;
    return { total: sum(rows), parts: parts.map((p) => sum(rows.filter((r) => r.name.endsWith(p)))) };
  }
  await ops.read(probe);
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) run();
  await ops.read(probe);
  return { total: (performance.now() - t0) / reps, parts: parts.map(() => NaN) };
}

/** Median milliseconds of one call of `run`. */
async function measure(run: () => void): Promise<number> {
  return (await measureParts(run)).total;
}

/** max |a - b|. */
async function maxDiff(a: GpuTensor, b: GpuTensor): Promise<number> {
  const [x, y] = [await ops.read(a), await ops.read(b)];
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
  return m;
}

const s = { B, T, C, NH };
const inp = await tensor(B * T * 3 * C, true);
const dout = await tensor(B * T * C, true);
const m = {
  out: await tensor(B * T * C),
  preatt: await tensor(B * NH * T * T),
  att: await tensor(B * NH * T * T),
  dinp: await tensor(B * T * 3 * C),
  dpreatt: await tensor(B * NH * T * T),
  datt: await tensor(B * NH * T * T),
};
const f = { out: await tensor(B * T * C), lse: await tensor(B * NH * T), dinp: await tensor(B * T * 3 * C) };

const mFwd = () => ops.run(attention.forward, { out: m.out, preatt: m.preatt, att: m.att, inp }, s);
const mBwd = () =>
  ops.run(attention.backward, { dinp: m.dinp, dpreatt: m.dpreatt, datt: m.datt, dout, inp, att: m.att }, s);
const fFwd = (t = tiles) => ops.run(flashAttention.forward, { out: f.out, lse: f.lse, inp }, { ...s, tiles: t });
const fBwd = (t = tiles) =>
  ops.run(flashAttention.backward, { dinp: f.dinp, dout, inp, out: f.out, lse: f.lse }, { ...s, tiles: t });

const times = {
  mFwd: await measure(mFwd),
  fFwd: await measure(() => fFwd()),
  mBwd: await measure(mBwd),
  fBwd: await measure(() => fBwd()),
};
const rate = (flops: number, ms: number) => (flops / ms / 1e9).toPrecision(3);
const fwdFlops = 2 * B * T * T * C;
const row = (name: string, flops: number, a: number, b: number) =>
  `| ${name} | ${a.toFixed(3)} | ${rate(flops, a)} | ${b.toFixed(3)} | ${rate(flops, b)} | ${(a / b).toFixed(2)}× |`;

console.log(
  `${ops.description}; B=${B} T=${T} NH=${NH} hs=${hs}, ${reps} repetitions, ${
    timed ? "GPU timestamps" : "wall clock"
  }`,
);
console.log("| attention | materialized ms | TFLOP/s | flash ms | TFLOP/s | speedup |");
console.log("| --- | ---: | ---: | ---: | ---: | ---: |");
console.log(row("forward", fwdFlops, times.mFwd, times.fFwd));
console.log(row("backward", 2 * fwdFlops, times.mBwd, times.fBwd));
console.log(row("both", 3 * fwdFlops, times.mFwd + times.mBwd, times.fFwd + times.fBwd));

// The two computed the same attention of the same inputs (each output above is from its last call).
console.log(
  `max |flash - materialized|: out ${(await maxDiff(f.out, m.out)).toExponential(1)}, ` +
    `dinp ${(await maxDiff(f.dinp, m.dinp)).toExponential(1)}`,
);

if (timed) {
  ops.profiler!.start();
  fBwd();
  console.log(`\nflash backward by kernel:\n${formatProfile(await ops.profiler!.stop())}`);
}

if (values.sweep) await sweep();
if (values["softmax-lanes"]) await softmaxLanes(values["softmax-lanes"].split(",").map(Number));
if (values["matmul-variants"]) await matmulVariants();

/**
 * The materialized attention as a training step runs it (the forward with lse, the backward's recompute of att from
 * it, the backward given out) under each matmul variant: ms per call of each product, the mean of `reps` calls.
 */
async function matmulVariants(): Promise<void> {
  const variants: [string, GpuExecutorOptions][] = [
    ["defaults", {}],
    ["scalar loads", { matmulVec4Loads: false }],
    ["consecutive columns", { matmulSpreadColumns: false }],
    ["consecutive rows", { matmulSpreadRows: false }],
    ["K tiles of 16", { matmulBKNContigB: 16 }],
    ["rows in grid order", { matmulHeavyFirst: false }],
    ["double-buffered", { matmulDoubleBuffer: true }],
    ["K tiles of 8", { matmulBK: 8 }],
    ["K tiles of 8, double-buffered", { matmulBK: 8, matmulDoubleBuffer: true }],
  ];
  const products = [
    ...["q·kᵀ", "softmax", "att·v", "q·kᵀ → att"],
    ...["dout·vᵀ → dpreatt", "dpreatt·k", "dpreattᵀ·q", "attᵀ·dout", "D"],
  ];
  const results: { total: number; parts: number[] }[] = [];
  const forward = { out: m.out, preatt: m.preatt, att: m.att, inp, lse: f.lse };
  const backward = { dinp: m.dinp, dpreatt: m.dpreatt, datt: m.datt, dout, inp, att: m.att, out: m.out };
  for (const [, options] of variants) {
    const exec = await createGpuExecutor(options); // the same device: the same tensors
    const step = () => {
      exec.run(attention.forward, forward, s);
      exec.run(attention.forward, forward, { ...s, outHolds: true });
      exec.run(attention.backward, backward, s);
    };
    results.push(await measureParts(step, products.map((name) => ` › ${name}`), exec));
  }
  console.log(`\nmaterialized attention as in training, by product (ms per call, mean of ${reps}):`);
  console.log(`| product | ${variants.map(([name]) => name).join(" | ")} |`);
  console.log(`| --- | ${variants.map(() => "---:").join(" | ")} |`);
  products.forEach((name, i) => console.log(`| ${name} | ${results.map((r) => r.parts[i].toFixed(3)).join(" | ")} |`));
  console.log(`| all kernels | ${results.map((r) => r.total.toFixed(3)).join(" | ")} |`);
}

/** The materialized attention with each width of its softmax kernels (threads per row), on the same tensors. */
async function softmaxLanes(widths: number[]): Promise<void> {
  console.log("\nmaterialized attention by softmax threads per row (ms per call):");
  console.log("| lanes | forward | its softmax | backward | its softmax |");
  console.log("| ---: | ---: | ---: | ---: | ---: |");
  for (const lanes of widths) {
    const exec = await createGpuExecutor({ attentionSoftmaxLanes: lanes }); // the same device: the same tensors
    const fwd = await measureParts(
      () => exec.run(attention.forward, { out: m.out, preatt: m.preatt, att: m.att, inp }, s),
      ["softmax"],
      exec,
    );
    const bwd = await measureParts(
      () => exec.run(attention.backward, { dinp: m.dinp, dpreatt: m.dpreatt, datt: m.datt, dout, inp, att: m.att }, s),
      ["softmax"],
      exec,
    );
    const ms = (x: number) => x.toFixed(3);
    console.log(`| ${lanes} | ${ms(fwd.total)} | ${ms(fwd.parts[0])} | ${ms(bwd.total)} | ${ms(bwd.parts[0])} |`);
  }
}

/** Times each candidate tile of each kernel (see the module doc) and prints the table and the best choice. */
async function sweep(): Promise<void> {
  const bytes = ops.runtime.limits.maxComputeWorkgroupStorageSize;
  const threads = ops.runtime.limits.maxComputeInvocationsPerWorkgroup;
  const base = tiles ?? flashTiles(hs, bytes, ops.runtime.ctx.isFallback ? 8192 : bytes);
  // Every tile of the lists once, in their order: forward's list, then those only the dq and dk·dv lists hold.
  const all = [...new Set(Object.values(FLASH_CANDIDATES).flat().map(flashTileText))].flatMap(parseFlashTiles);
  const fits = (k: keyof FlashTiles, t: FlashTile) =>
    flashTileBytes(k, t, hs) <= bytes && flashTileThreads(t) <= threads;
  const kernels = ["forward", "dq", "dkdv"] as const;
  const best: Record<string, { tile: FlashTile; ms: number }> = {};
  const cell = (k: keyof FlashTiles, t: FlashTile, ms: number) => {
    if (!fits(k, t)) return "—";
    if (!(ms >= best[k]?.ms)) best[k] = { tile: t, ms };
    return `${ms.toFixed(3)} (${(flashTileBytes(k, t, hs) / 1024).toFixed(1)} KiB, ${flashTileThreads(t)} thr)`;
  };
  console.log(
    `\nflash tile sweep (rows x cols [x threads per row group, 8 if not given]; ${bytes} bytes of workgroup memory, ` +
      `${threads} threads; ms per call, mean of ${reps} back to back):`,
  );
  console.log("| tile | forward ms | dq ms | dk·dv ms |");
  console.log("| --- | ---: | ---: | ---: |");
  for (const t of all) {
    if (!kernels.some((k) => fits(k, t))) continue;
    const fwd = fits("forward", t) ? await measure(() => fFwd({ ...base, forward: t })) : NaN;
    let dq = NaN, dkdv = NaN;
    if (fits("dq", t) || fits("dkdv", t)) {
      const bt = { ...base, dq: fits("dq", t) ? t : base.dq, dkdv: fits("dkdv", t) ? t : base.dkdv };
      const r = await measureParts(() => fBwd(bt), ["dq", "dk·dv"]);
      [dq, dkdv] = timed ? r.parts : [r.total, r.total];
    }
    console.log(
      `| ${flashTileText(t)} | ${cell("forward", t, fwd)} | ${cell("dq", t, dq)} | ${cell("dkdv", t, dkdv)} |`,
    );
  }
  const flag = kernels.map((k) => `${k}=${flashTileText(best[k]?.tile ?? base[k])}`).join(",");
  const total = kernels.reduce((s, k) => s + (best[k]?.ms ?? NaN), 0);
  console.log(
    `best: --tiles ${flag}${timed ? ` (${total.toFixed(3)} ms per layer, forward + backward without D)` : ""}`,
  );
  if (!timed) console.log("(no timestamp-query: the dq and dk·dv columns are the whole backward, by wall clock)");
}
