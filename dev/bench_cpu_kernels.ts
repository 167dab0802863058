/**
 * GFLOP/s of the CPU matmul kernels (`cpu/kernels.ts`, the production code) at GPT-2 d12 shapes, N = B·T = 256:
 * forward (2·N·C·OC flops) and backward (dinp + dweight: 4·N·C·OC flops), with 1 and 2 threads (or the
 * counts given by `--threads 1,2,4`), median of several runs after a warm-up. Attention forward/backward at
 * B=4, T=64, C=768, NH=12 is timed too (ms per call).
 *
 *   deno run -A dev/bench_cpu_kernels.ts [--threads 1,2] [--runs 5] [--no-relaxed]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { CpuKernels } from "../cpu/kernels.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    threads: { type: "string", default: "1,2" },
    runs: { type: "string", default: "7" },
    "no-relaxed": { type: "boolean", default: false },
    shapes: { type: "string", default: "" },
  },
});
const threadCounts = values.threads.split(",").map(Number);
const runs = Number(values.runs);
const N = 256;
const allShapes: [string, number, number][] = [
  ["qkv      768->2304", 768, 2304],
  ["attproj  768->768", 768, 768],
  ["fc       768->3072", 768, 3072],
  ["fcproj  3072->768", 3072, 768],
  ["lm-head  768->50304", 768, 50304],
];
const shapes = values.shapes ? allShapes.filter((_, i) => values.shapes.split(",").includes(String(i))) : allShapes;

// One memory big enough for the largest shape's tensors.
const maxW = Math.max(2 * 4 * 12 * 64 * 64, ...shapes.map(([, C, OC]) => C * OC));
const maxIO = Math.max(N * 3 * 768, ...shapes.map(([, C, OC]) => N * Math.max(C, OC)));
const bytes = (2 * maxW + 4 * maxIO + 2 * 65536) * 4 + (1 << 20);
const pages = Math.ceil(bytes / 65536);
const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
let cursor = 0;
const alloc = (n: number) => {
  const a = new Float32Array(memory.buffer, cursor, n);
  cursor += Math.ceil((n * 4) / 64) * 64;
  for (let i = 0; i < n; i++) a[i] = Math.random() * 0.2 - 0.1;
  return a;
};
const weight = alloc(maxW), dweight = alloc(maxW);
const inp = alloc(maxIO), out = alloc(maxIO), dout = alloc(maxIO), dinp = alloc(maxIO);
const bias = alloc(65536), dbias = alloc(65536);

/** Median and best of `runs` timings (ms) after a warm-up call (which also lets the wasm tier up). */
function time(f: () => void): { median: number; best: number } {
  f();
  const ms: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    f();
    ms.push(performance.now() - t0);
  }
  ms.sort((a, b) => a - b);
  return { median: ms[Math.floor(ms.length / 2)], best: ms[0] };
}

const rows: string[][] = [];
const header = ["shape (N=256)", ...threadCounts.flatMap((t) => [`fwd ${t}T`, `bwd ${t}T`])];
const results = new Map<string, string[]>();
for (const threads of threadCounts) {
  const k = await CpuKernels.create(memory, threads, { relaxed: values["no-relaxed"] ? false : undefined });
  for (const [name, C, OC] of shapes) {
    const sz = { N, C, OC };
    const fwd = time(() => k.matmulForward({ out, inp, weight, bias }, sz));
    const bwd = time(() => k.matmulBackward({ dinp, dweight, dbias, dout, inp, weight }, sz));
    const gf = (flops: number, t: { median: number; best: number }) =>
      `${(flops / t.median / 1e6).toFixed(1)} (${(flops / t.best / 1e6).toFixed(1)})`;
    const r = results.get(name) ?? [];
    r.push(gf(2 * N * C * OC, fwd), gf(4 * N * C * OC, bwd));
    results.set(name, r);
  }
  // Attention at d12, B=4, T=64.
  const [B, T, C, NH] = [4, 64, 768, 12];
  const qkv = inp.subarray(0, B * T * 3 * C), o = out.subarray(0, B * T * C);
  const preatt = dweight.subarray(0, B * NH * T * T), att = dweight.subarray(B * NH * T * T, 2 * B * NH * T * T);
  const datt = weight.subarray(0, B * NH * T * T), dpreatt = weight.subarray(B * NH * T * T, 2 * B * NH * T * T);
  const af = time(() => k.attentionForward({ out: o, preatt, att, inp: qkv }, { B, T, C, NH }));
  const ab = time(() =>
    k.attentionBackward({ dinp: dinp.subarray(0, B * T * 3 * C), dpreatt, datt, dout: o, inp: qkv, att }, {
      B,
      T,
      C,
      NH,
    })
  );
  const r = results.get("attention B4 T64") ?? [];
  r.push(`${af.median.toFixed(2)} (${af.best.toFixed(2)}) ms`, `${ab.median.toFixed(2)} (${ab.best.toFixed(2)}) ms`);
  results.set("attention B4 T64", r);
  k.close();
}
for (const [name, r] of results) rows.push([name, ...r]);
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i])).join("  ");
console.log(`CPU matmul GFLOP/s: median (best) of ${runs} runs; ${navigator.hardwareConcurrency} cores`);
console.log(line(header));
for (const r of rows) console.log(line(r));
