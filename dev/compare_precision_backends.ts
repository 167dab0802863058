/**
 * The same few AdamW steps in fp32 and in f16 (`--precision f16`: the matmuls read an f16 copy of the weights) on
 * the CPU and on WebGPU, from the same random weights and tokens: whether the GPU's f16 path (packed halves, the f16
 * matmul and update kernels) follows its CPU twin as closely as the fp32 paths follow each other, at a model's real
 * widths. Prints each run's losses and the largest differences between them.
 *
 *     deno run -A dev/compare_precision_backends.ts    # d12's widths, 2 layers, B=2, T=128, 6 steps: ~10 min on llvmpipe
 *     deno run -A dev/compare_precision_backends.ts --model layers=12,heads=12,channels=768,seq=1024 --seq 1024 --batch 4
 *
 * @module
 */
import { parseArgs } from "node:util";
import { parseModelDescriptor } from "../model/config.ts";
import { createCpuModel } from "../model/cpu_model.ts";
import type { GPT2 } from "../model/gpt2.ts";
import { createGpuModel, type Precision } from "../model/gpu_model.ts";
import { loadParameters, resolveModelSource } from "../model/source.ts";

const { values } = parseArgs({
  options: {
    model: { type: "string", default: "layers=2,heads=12,channels=768,seq=128" },
    batch: { type: "string", default: "2" },
    seq: { type: "string", default: "128" },
    steps: { type: "string", default: "6" },
  },
});
const cfg = parseModelDescriptor(values.model!);
if (!cfg) {
  console.error(`--model: '${values.model}' is not a model descriptor (e.g. layers=2,heads=12,channels=768,seq=128)`);
  Deno.exit(1);
}
const [B, T, steps] = [Number(values.batch), Number(values.seq), Number(values.steps)];
const HYPER = { learningRate: 3e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 };
/** Deterministic tokens for step `step`, spread over the vocabulary. */
const tokens = (step: number) =>
  Int32Array.from({ length: B * T }, (_, i) => (i * 7919 + step * 104729) % cfg.vocabSize);

// deno-lint-ignore no-explicit-any
async function losses(model: GPT2<any, any>): Promise<number[]> {
  await loadParameters(model, await resolveModelSource(values.model!), 5);
  const out = [];
  for (let step = 1; step <= steps; step++) {
    model.forward(tokens(step), tokens(step + 1));
    out.push(await model.meanLoss());
    model.zeroGrad();
    model.backward();
    await model.update({ ...HYPER, step });
  }
  model.close();
  return out;
}

const runs: Record<string, number[]> = {};
for (const precision of ["fp32", "f16"] as Precision[]) {
  runs[`cpu ${precision}`] = await losses(await createCpuModel(cfg, B, T, { precision }));
  runs[`gpu ${precision}`] = await losses(await createGpuModel(cfg, B, T, { precision }));
}
console.log(`${values.model}, B=${B}, T=${T}: the loss of each of ${steps} AdamW steps`);
for (const [name, ls] of Object.entries(runs)) {
  console.log(`  ${name.padEnd(8)} ${ls.map((x) => x.toFixed(6)).join(" ")}`);
}
const gap = (a: string, b: string) => Math.max(...runs[a].map((x, i) => Math.abs(x - runs[b][i]))).toExponential(2);
console.log(
  `largest |difference|: gpu-cpu fp32 ${gap("gpu fp32", "cpu fp32")}, gpu-cpu f16 ${gap("gpu f16", "cpu f16")}, ` +
    `f16-fp32 cpu ${gap("cpu f16", "cpu fp32")}, f16-fp32 gpu ${gap("gpu f16", "gpu fp32")}`,
);
