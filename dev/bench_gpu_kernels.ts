/**
 * GPU kernel micro-benchmark: the production matmul (forward, and backward = dinp + dweight + dbias) at GPT-2 124M's
 * shapes, a 4096³ product for comparison with the SGEMM figures in ../shared/gpu/README.md, and causal attention,
 * all through `GpuExecutor` (the same launchers and WGSL the trainer uses). Times are GPU timestamps per call (median of
 * the repetitions), or wall clock over all repetitions when the adapter has no `timestamp-query`.
 *
 *     deno run -A dev/bench_gpu_kernels.ts                 # rows = 8192 (B·T of B=8, T=1024); 128 on llvmpipe
 *     deno run -A dev/bench_gpu_kernels.ts --rows 16384 --reps 20
 *     deno run -A dev/bench_gpu_kernels.ts --step d12 --batch 8   # also: whole training steps + per-kernel profile
 *
 * @module
 */
import { parseArgs } from "node:util";
import { createGpuExecutor, type GpuExecutor } from "../gpu/executor.ts";
import type { GpuTensor } from "../gpu/tensor.ts";
import { createGpuModel } from "../model/gpu_model.ts";
import { formatProfile } from "../gpu/profiler.ts";
import { parseModelDescriptor } from "../model/config.ts";
import { randomParameters } from "../model/init.ts";
import { attention } from "../layers/attention.ts";
import { matmul } from "../layers/matmul.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    rows: { type: "string" },
    reps: { type: "string", default: "10" },
    T: { type: "string" },
    step: { type: "string" },
    batch: { type: "string", default: "8" },
  },
});
const ops = await createGpuExecutor();
const fallback = ops.runtime.ctx.isFallback;
const N = Number(values.rows ?? (fallback ? 128 : 8192));
const reps = Number(values.reps);
const T = Number(values.T ?? Math.min(1024, N));
const timed = ops.runtime.ctx.hasTimestamps;

/** GFLOP/s with three significant digits. */
function rate(flops: number, ms: number): string {
  return (flops / ms / 1e6).toPrecision(3);
}

/**
 * A zero-filled tensor; with `scale`, random values in [-scale, scale). Timings do not depend on the values (no
 * denormals either way), and large host uploads are avoided: on the H200, kernels measured after a few GB of
 * `writeBuffer` uploads ran up to 5x slower than in a training step.
 */
async function tensor(n: number, scale = 0): Promise<GpuTensor> {
  const t = await ops.allocate("bench", n);
  if (scale > 0) ops.write(t, Float32Array.from({ length: n }, () => (Math.random() * 2 - 1) * scale));
  return t;
}

const probe = await tensor(1); // a read of it waits for everything submitted before

/** Median GPU milliseconds of one call of `run` (after one warm-up call, which also compiles the pipelines). */
async function measure(o: GpuExecutor, run: () => void): Promise<number> {
  run();
  await o.read(probe);
  if (timed) {
    const times: number[] = [];
    for (let i = 0; i < reps; i++) {
      o.profiler!.start();
      run();
      const rows = await o.profiler!.stop();
      times.push(rows.reduce((s, r) => s + r.ms, 0));
    }
    times.sort((a, b) => a - b);
    return times[Math.floor(times.length / 2)];
  }
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) run();
  await o.read(probe);
  return (performance.now() - t0) / reps;
}

console.log(`${ops.description}; rows N = ${N}, ${reps} repetitions, ${timed ? "GPU timestamps" : "wall clock"}`);
console.log("| product | N×C×OC | ms | GFLOP/s |");
console.log("| --- | --- | ---: | ---: |");
const B = Math.max(1, Math.floor(N / T));
const [C, NH] = [768, 12];
const qkv = await tensor(B * T * 3 * C, 1);
const atty = await tensor(B * T * C);
const preatt = await tensor(B * NH * T * T);
const att = await tensor(B * NH * T * T);
const fwd = await measure(ops, () => ops.run(attention.forward, { out: atty, preatt, att, inp: qkv }, { B, T, C, NH }));
const flops = 2 * B * T * T * C; // the two causal products, half of each computed
console.log(`| attention forward | B=${B} T=${T} NH=${NH} | ${fwd.toFixed(3)} | ${rate(flops, fwd)} |`);
const dqkv = await tensor(B * T * 3 * C);
const dpreatt = await tensor(B * NH * T * T);
const datt = await tensor(B * NH * T * T);
const bwd = await measure(
  ops,
  () => ops.run(attention.backward, { dinp: dqkv, dpreatt, datt, dout: atty, inp: qkv, att }, { B, T, C, NH }),
);
console.log(
  `| attention backward | B=${B} T=${T} NH=${NH} | ${bwd.toFixed(3)} | ${rate(2 * flops, bwd)} |`,
);

const shapes: [string, number, number, number][] = [
  ["qkv", N, 768, 2304],
  ["attproj", N, 768, 768],
  ["fc", N, 768, 3072],
  ["fcproj", N, 3072, 768],
  ["classifier", N, 768, 50304],
  ["square 4096³", 4096, 4096, 4096],
];
for (const [name, n, C, OC] of shapes) {
  if (fallback && name === "square 4096³") continue;
  const inp = await tensor(n * C);
  const weight = await tensor(OC * C);
  const bias = await tensor(OC);
  const out = await tensor(n * OC);
  const fwd = await measure(ops, () => ops.run(matmul.forward, { out, inp, weight, bias }, { N: n, C, OC }));
  console.log(`| ${name} forward | ${n}×${C}×${OC} | ${fwd.toFixed(3)} | ${rate(2 * n * C * OC, fwd)} |`);
  const dinp = await tensor(n * C);
  const dweight = await tensor(OC * C);
  const dbias = await tensor(OC);
  const bwd = await measure(
    ops,
    () => ops.run(matmul.backward, { dinp, dweight, dbias, dout: out, inp, weight }, { N: n, C, OC }),
  );
  console.log(
    `| ${name} backward | ${n}×${C}×${OC} | ${bwd.toFixed(3)} | ${rate(4 * n * C * OC, bwd)} |`,
  );
}

if (values.step) {
  // Whole training steps of a random-init model: forward, loss read, backward, AdamW (no clipping: one wait/step).
  const cfg = parseModelDescriptor(values.step)!;
  const SB = Number(values.batch);
  const ST = Math.min(T, cfg.maxSeqLen);
  const model = await createGpuModel(cfg, SB, ST, { exec: ops });
  for (const [name, data] of randomParameters(cfg, 1)) model.writeParameter(name, data);
  const tokens = Int32Array.from({ length: SB * ST }, (_, i) => (i * 7919) % cfg.vocabSize);
  const targets = Int32Array.from({ length: SB * ST }, (_, i) => (i * 104729 + 1) % cfg.vocabSize);
  const step = async (i: number) => {
    model.forward(tokens, targets);
    model.zeroGrad();
    model.backward();
    await model.update({ learningRate: 1e-4, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0, step: i + 1 });
    return await model.meanLoss();
  };
  const times: number[] = [];
  for (let i = 0; i < 2 + reps; i++) {
    const t0 = performance.now();
    const loss = await step(i);
    if (i >= 2) times.push(performance.now() - t0);
    if (i === 1 + reps) console.log(`\n${values.step} B=${SB} T=${ST}: loss ${loss.toFixed(4)}`);
  }
  times.sort((a, b) => a - b);
  const ms = times[Math.floor(times.length / 2)];
  console.log(`${ms.toFixed(1)} ms/step (median of ${reps}), ${(SB * ST / ms * 1000).toFixed(0)} tokens/s`);
  if (timed) {
    ops.profiler!.start();
    await step(2 + reps);
    console.log(formatProfile(await ops.profiler!.stop()));
  }
}
