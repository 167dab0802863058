/**
 * GPT-2 with `precision: "f16"` (the matmuls read an f16 copy of the float32 master weights): the WebGPU model with
 * packed halves against its CPU twin (float32 storage of the half-rounded copy), both trained for a few AdamW steps
 * from the same weights; the copy follows every update and parameter write; and the f16 model differs from the
 * float32 one by what rounding the weights to halves does, no more.
 */
import { gpuAdapterAvailable } from "../../gpu/device.ts";
import { parseModelDescriptor } from "../../model/config.ts";
import { createCpuModel } from "../../model/cpu_model.ts";
import type { GPT2 } from "../../model/gpt2.ts";
import { createGpuModel, gpuModelBytes, type Precision } from "../../model/gpu_model.ts";
import { loadParameters, resolveModelSource } from "../../model/source.ts";
import { PARAMETER_NAMES } from "../../model/tensors.ts";
import { roundToHalf } from "../../util/f16.ts";
import { assertClose } from "../_assert.ts";

// Head size 8; T = 33 and V = 97 are not multiples of any tile.
const SPEC = "layers=2,heads=3,channels=24,seq=40,vocab=97";
const cfg = parseModelDescriptor(SPEC)!;
const adapter = await gpuAdapterAvailable();
const [B, T] = [2, 33];
const HYPER = { learningRate: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 };

// deno-lint-ignore no-explicit-any
type Model = GPT2<any, any>;
const tokens = (n: number, seed: number) => Int32Array.from({ length: n }, (_, i) => (i * 37 + seed) % cfg.vocabSize);

async function loaded(create: (precision: Precision) => Promise<Model>, precision: Precision): Promise<Model> {
  const model = await create(precision);
  await loadParameters(model, await resolveModelSource(SPEC), 5);
  return model;
}

/** Losses of `steps` AdamW steps, and the logits of the first forward pass. */
async function train(model: Model, steps: number): Promise<{ losses: number[]; logits: Float32Array }> {
  const losses: number[] = [];
  let logits: Float32Array = new Float32Array(0);
  for (let step = 1; step <= steps; step++) {
    model.forward(tokens(B * T, step), tokens(B * T, step + 1));
    if (step === 1) logits = await model.readLogits();
    losses.push(await model.meanLoss());
    model.zeroGrad();
    model.backward();
    await model.update({ ...HYPER, step });
  }
  return { losses, logits };
}

const cpu = (precision: Precision) => createCpuModel(cfg, B, T, { precision });
const gpu = (precision: Precision) => createGpuModel(cfg, B, T, { precision });

Deno.test("f16 model on the CPU: the copy is the masters rounded to halves, after loading and after every update", async () => {
  const model = await loaded(cpu, "f16");
  if (model.precision !== "f16") throw new Error(`precision ${model.precision}`);
  const check = async (when: string) => {
    const masters = await model.readParameters();
    for (const name of PARAMETER_NAMES) {
      const copy = model.tensors.weights16!.byName[name] as Float32Array;
      masters[name].forEach((x, i) => {
        if (copy[i] !== roundToHalf(x)) throw new Error(`${when}: ${name}[${i}] copy ${copy[i]} for ${x}`);
      });
    }
  };
  await check("after loading");
  await train(model, 2);
  await check("after two updates");
});

Deno.test("f16 model on the CPU: within half-rounding of the float32 model, and not equal to it", async () => {
  const [f32, f16] = [await train(await loaded(cpu, "fp32"), 3), await train(await loaded(cpu, "f16"), 3)];
  // Weights rounded to halves (relative error ≤ 2^-11) move these logits by ~1e-3; the losses by less.
  const diff = assertClose(f16.logits, f32.logits, { atol: 2e-2, rtol: 0 }, "logits");
  if (!(diff > 0)) throw new Error("the f16 model gave the float32 model's logits: the copy is not read");
  f16.losses.forEach((loss, i) => {
    if (!(Math.abs(loss - f32.losses[i]) < 1e-2)) throw new Error(`step ${i + 1}: ${loss} vs ${f32.losses[i]}`);
  });
});

Deno.test({
  name: "f16 model on WebGPU (packed halves) matches its CPU twin: logits, 3 AdamW steps, the gradients",
  ignore: !adapter,
  async fn() {
    const [onCpu, onGpu] = [await loaded(cpu, "f16"), await loaded(gpu, "f16")];
    if (onGpu.tensors.weights16!.arena.arena.dtype !== "f16") throw new Error("the GPU copy is not an f16 arena");
    const [c, g] = [await train(onCpu, 3), await train(onGpu, 3)];
    // The two backends read the same half-rounded weights (pack2x16float may round a value the other way than the
    // CPU's ties-to-even at an exact midpoint, which random weights essentially never hit); the float32 arithmetic
    // differs in summation order only: the tolerances of the fp32 parity tests.
    assertClose(g.logits, c.logits, { atol: 1e-5, rtol: 1e-4 }, "logits");
    g.losses.forEach((loss, i) => {
      if (!(Math.abs(loss - c.losses[i]) < 1e-5)) throw new Error(`step ${i + 1}: gpu ${loss} vs cpu ${c.losses[i]}`);
    });
    const [gc, gg] = [await onCpu.readGradients(), await onGpu.readGradients()];
    for (const name of PARAMETER_NAMES) assertClose(gg[name], gc[name], { atol: 1e-5, rtol: 1e-3 }, `grad ${name}`);
  },
});

Deno.test("f16 model memory: the plan counts the copy (2 bytes a parameter)", () => {
  const opts = { training: false } as const;
  const extra = gpuModelBytes(cfg, 1, 40, { ...opts, precision: "f16" }) - gpuModelBytes(cfg, 1, 40, opts);
  const P = gpuModelBytes(cfg, 1, 40, { training: true }) - gpuModelBytes(cfg, 1, 40, { training: false });
  if (!(extra > 0 && extra < P)) throw new Error(`the f16 copy adds ${extra} bytes`);
});
