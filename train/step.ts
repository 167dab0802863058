/**
 * One optimizer step of `gpt2 train`, with llm.c's trainer semantics: `accumSteps` micro-batches from the loader
 * (forward, backward of the mean loss / accumSteps, times the loss scale when there is one), the learning rate of
 * the schedule at this step, and AdamW (betas 0.9/0.95, eps 1e-8) with the global gradient norm clipped at 1.0.
 * Nothing waits for the GPU inside the step: each micro-step's loss read is queued behind its backward pass, and the
 * gradient norm's read behind the update; they resolve together at the end. The trainer (train/trainer.ts) and the
 * browser page run this same function, so a page run and a CLI run with the same settings train the same weights.
 *
 * @module
 */
import type { GPT2 } from "../model/gpt2.ts";
import type { Batch } from "../prepro/dataloader.ts";
import type { DynamicLossScale } from "./loss_scale.ts";
import { learningRateAt, type ScheduleKind } from "./schedule.ts";

/** The AdamW settings every step uses (llm.c's). */
export const ADAMW_BETAS = { beta1: 0.9, beta2: 0.95, eps: 1e-8 } as const;
/** The global gradient norm is clipped to this (llm.c's). */
export const MAX_GRAD_NORM = 1.0;

/** What a run's steps share. */
export interface StepSettings {
  /** Micro-batches per step (gradient accumulation). */
  accumSteps: number;
  schedule: ScheduleKind;
  learningRate: number;
  warmupSteps: number;
  finalFraction: number;
  weightDecay: number;
  /** The run's length, for the schedule. */
  maxSteps: number;
}

/** What one step did. */
export interface StepResult {
  /** Mean loss over the step's micro-batches. */
  loss: number;
  /** Gradient norm before clipping (Inf or NaN: an overflow, skipped with loss scaling). */
  norm: number;
  lr: number;
  /** With loss scaling: whether the step was applied or skipped (or the scale has run out: diverged). */
  scaled?: "applied" | "skipped" | "diverged";
}

/**
 * Runs optimizer step `step` (0-based: the steps done so far).
 *
 * @param model A training model.
 * @param nextBatch The next micro-batch (the train loader's `next`).
 * @param step Steps done so far.
 * @param s The run's settings.
 * @param lossScale Dynamic loss scaling, if the run has it.
 * @returns The step's loss, norm, learning rate and what the loss scale made of it.
 */
export async function trainStep<F, I>(
  model: GPT2<F, I>,
  nextBatch: () => Batch,
  step: number,
  s: StepSettings,
  lossScale?: DynamicLossScale,
): Promise<StepResult> {
  model.zeroGrad();
  const losses: Promise<number>[] = [];
  const scale = lossScale?.scale ?? 1;
  for (let micro = 0; micro < s.accumSteps; micro++) {
    const batch = nextBatch();
    model.forward(batch.inputs, batch.targets);
    model.backward(scale / s.accumSteps);
    losses.push(model.meanLoss());
  }
  const lr = learningRateAt(step, {
    kind: s.schedule,
    learningRate: s.learningRate,
    warmupSteps: s.warmupSteps,
    finalFraction: s.finalFraction,
    totalSteps: s.maxSteps,
  });
  const norm = await model.update({
    ...ADAMW_BETAS,
    learningRate: lr,
    weightDecay: s.weightDecay,
    step: step + 1 - (lossScale?.skipped ?? 0), // AdamW's own count: skipped steps do not advance it
    maxGradNorm: MAX_GRAD_NORM,
    gradScale: 1 / scale,
    skipNonFinite: lossScale !== undefined,
  });
  const scaled = lossScale?.observe(norm ?? NaN);
  const lossSum = (await Promise.all(losses)).reduce((a, b) => a + b, 0);
  return { loss: lossSum / s.accumSteps, norm: norm ?? NaN, lr, ...(scaled ? { scaled } : {}) };
}
