/**
 * A few training steps that the browser page (tests/browser/kernels_page.ts, on Chromium's WebGPU) and the Deno
 * side (tests/browser/kernels_test.ts, on the CPU backend) both run, so that their losses can be compared: the same
 * random init, the same fixed batches, the trainer's AdamW settings with clipping at 1.
 *
 * @module
 */
import type { GPT2 } from "../../model/gpt2.ts";
import { randomParameters } from "../../model/init.ts";

/** The settings of a comparison run. */
export const STEPS_RUN = { model: "layers=2,heads=3,channels=48,seq=32,vocab=97", B: 2, T: 32, steps: 5, seed: 7 };

/**
 * Initializes `model` from `seed` and runs `steps` training steps on deterministic batches; returns each step's loss.
 *
 * @param model A training model at (B, T).
 * @param steps Optimizer steps.
 * @param seed Seed of the initialization.
 * @returns The losses, in order.
 */
export async function trainSteps<F, I>(model: GPT2<F, I>, steps: number, seed: number): Promise<number[]> {
  for (const [name, data] of randomParameters(model.config, seed)) model.writeParameter(name, data);
  const { B, T } = model;
  const V = model.config.vocabSize;
  const losses: number[] = [];
  for (let step = 0; step < steps; step++) {
    const inputs = Int32Array.from({ length: B * T }, (_, i) => (i * 7919 + step * 104729) % V);
    const targets = Int32Array.from({ length: B * T }, (_, i) => (i * 7919 + step * 104729 + 1) % V);
    model.zeroGrad();
    model.forward(inputs, targets);
    model.backward();
    const loss = model.meanLoss();
    await model.update({
      learningRate: 1e-2,
      beta1: 0.9,
      beta2: 0.95,
      eps: 1e-8,
      weightDecay: 0.1,
      step: step + 1,
      maxGradNorm: 1,
    });
    losses.push(await loss);
  }
  return losses;
}
