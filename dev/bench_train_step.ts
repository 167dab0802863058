/**
 * One benchmark subject: a full training step (forward, backward, AdamW with clipping) of a random-init model on
 * one backend, timed over several steps after warm-up. Prints one JSON line. Run by `dev/bench.ts` in a fresh
 * process per model so that the peak RSS (VmHWM) belongs to that model alone.
 *
 *     deno run -A dev/bench_train_step.ts --model d12 --batch 4 --seq 64 --steps 5 --device cpu
 *     deno run -A dev/bench_train_step.ts --model d12 --batch 16 --seq 1024 --device gpu --profile  # + kernel table
 *     deno run -A dev/bench_train_step.ts --model d12 --batch 16 --seq 1024 --device gpu --attention flash
 *     deno run -A dev/bench_train_step.ts --model d12 --batch 16 --seq 1024 --device gpu --precision f16
 *     … --precision f16 --f16-math weights|all      # native f16 arithmetic in those matmuls (shader-f16 GPUs)
 *     deno run -A dev/bench_train_step.ts --model d12 --batch 16 --seq 1024 --device gpu --no-overlap  # one at a time
 *     … --scalar-loads     # the matmuls' contiguous rows and columns read four scalar loads a vec4, as before stop 30
 *     … --vec4-along-k on|off   # whether a k-contiguous A is read a vec4 along k (default: the executor's)
 *
 * The steps are `gpt2 train`'s (train/step.ts: forward, backward, AdamW with clipping at 1.0), and on the GPU each is
 * started before the previous one's loss is read, as the trainer does; `--no-overlap` waits for each step first.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { createModel, parseDeviceChoice, parseF16Math, parsePrecisionChoice } from "../model/backends.ts";
import { planModel } from "../model/layout.ts";
import { formatProfile } from "../gpu/profiler.ts";
import { loadParameters, resolveModelSource } from "../model/source.ts";
import { StepQueue, StepTimes, trainStep } from "../train/step.ts";

const { values } = parseArgs({
  options: {
    model: { type: "string", default: "d6" },
    batch: { type: "string", default: "4" },
    seq: { type: "string", default: "64" },
    steps: { type: "string", default: "5" },
    warmup: { type: "string", default: "2" },
    device: { type: "string", default: "cpu" },
    profile: { type: "boolean", default: false },
    attention: { type: "string", default: "materialized" },
    precision: { type: "string", default: "fp32" },
    "f16-math": { type: "string", default: "none" },
    "no-overlap": { type: "boolean", default: false },
    "scalar-loads": { type: "boolean", default: false },
    "vec4-along-k": { type: "string" },
  },
});
const B = Number(values.batch), T = Number(values.seq);
const source = await resolveModelSource(values.model!);
const attention = values.attention === "flash" ? "flash" : "materialized";
const device = parseDeviceChoice(values.device!);
const precision = parsePrecisionChoice(values.precision!);
const { model, description, device: placedOn } = await createModel(source.config, B, T, device, {
  attention,
  precision,
  f16Math: parseF16Math(values["f16-math"]!),
  vec4Loads: !values["scalar-loads"],
  vec4AlongK: values["vec4-along-k"] === undefined ? undefined : values["vec4-along-k"] === "on",
});
await loadParameters(model, source, 1);
const inputs = new Int32Array(B * T), targets = new Int32Array(B * T);
for (let i = 0; i < B * T; i++) {
  inputs[i] = (i * 7919) % source.config.vocabSize;
  targets[i] = (i * 104729 + 1) % source.config.vocabSize;
}
const times: number[] = [];
let loss = NaN;
const steps = Number(values.warmup) + Number(values.steps);
let profile: string | undefined;
// The trainer's step (train/step.ts) with constant lr 1e-4 and no weight decay, each step started before the previous
// one's loss is read, as `gpt2 train` does on the GPU (StepQueue), unless --no-overlap.
const overlap = placedOn === "gpu" && !values["no-overlap"];
const settings = {
  accumSteps: 1,
  schedule: "constant" as const,
  learningRate: 1e-4,
  warmupSteps: 0,
  finalFraction: 1,
  weightDecay: 0,
  maxSteps: steps + 1,
};
const queue = new StepQueue((step) => trainStep(model, () => ({ inputs, targets }), step, settings));
const stepTimes = new StepTimes(); // the step lines' ms (bursts of results averaged out)
let first = performance.now(); // the end of the warm-up steps
for (let step = 0; step < steps; step++) {
  if (queue.ahead !== step) stepTimes.restart(performance.now());
  const result = queue.take(step);
  // Not across the end of the warm-up: the timing starts with nothing in flight. (Started ahead, the first timed
  // step's result can come in one burst with the last warm-up step's, and the clock would start a step late.)
  if (overlap && step + 1 < steps && step + 1 !== Number(values.warmup)) queue.startAhead(step + 1);
  loss = (await result).loss;
  const now = performance.now();
  const ms = stepTimes.done(now);
  if (step + 1 === Number(values.warmup)) first = now;
  if (step >= Number(values.warmup)) times.push(ms);
}
const msPerStepMean = (performance.now() - first) / (steps - Number(values.warmup));
if (values.profile) {
  // One more step under the per-kernel profiler (not timed: timestamps add waits).
  model.exec.profiler?.start();
  await trainStep(model, () => ({ inputs, targets }), steps, settings);
  const rows = await model.exec.profiler?.stop();
  profile = rows ? formatProfile(rows) : "(this backend has no per-kernel profiler)";
}
model.close();
times.sort((a, b) => a - b);
// Bytes of every planned tensor: parameters, gradients, AdamW m and v, activations, activation gradients.
const layout = planModel(source.config, B, T, 64, attention);
const P = layout.params.totalElements;
const copy16 = model.precision === "f16" ? 2 * P : 0; // the f16 copy of the weights
const tensorBytes = 4 * (4 * P + layout.acts.totalElements + layout.gradActs.totalElements) + copy16;
const ms = times[Math.floor(times.length / 2)];
const status = await Deno.readTextFile("/proc/self/status").catch(() => "");
const hwmKiB = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? NaN);
console.log(JSON.stringify({
  model: values.model,
  device: description,
  attention,
  precision: model.precision,
  B,
  T,
  params: model.parameterCount,
  steps: times.length,
  msPerStepMedian: Math.round(ms * 10) / 10,
  msPerStepMin: Math.round(times[0] * 10) / 10,
  msPerStepMean: Math.round(msPerStepMean * 10) / 10, // wall time of the timed steps over their count
  tokensPerSecond: Math.round(B * T / (msPerStepMean / 1000)), // throughput: the wall time of the timed steps
  peakRssGiB: Math.round(hwmKiB / 2 ** 20 * 100) / 100,
  tensorGiB: Math.round(tensorBytes / 2 ** 30 * 100) / 100,
  overlap,
  finalLoss: loss,
  ...(profile ? { profile } : {}),
}));
