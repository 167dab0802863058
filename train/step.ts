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

/**
 * llm.c's val loss: the mean loss of the first `batches` batches of `loader` (rewound first), forward passes only.
 * The trainer and the browser page both use it.
 *
 * @param model The model.
 * @param loader The val loader.
 * @param batches Batches to average.
 * @returns The mean loss.
 */
export async function valLoss<F, I>(
  model: GPT2<F, I>,
  loader: { reset(): void; next(): Batch },
  batches: number,
): Promise<number> {
  loader.reset();
  let sum = 0;
  for (let i = 0; i < batches; i++) {
    const batch = loader.next();
    model.forward(batch.inputs, batch.targets);
    sum += await model.meanLoss();
  }
  return sum / batches;
}

/**
 * Training steps with one started ahead: `take(step)` gives step `step`'s result (starting it unless `startAhead`
 * already did), and `startAhead(step + 1)`, called before that result is awaited, records and submits the next step
 * at once, so the GPU goes from one step to the next without waiting for the host to read the loss (Deno notices a
 * finished GPU in ~10 ms polls) and to record the next step (a few ms). The results are those of steps run one after
 * another: the GPU runs the work in the order it was recorded, and every read has its own staging buffer. Only for
 * backends whose ops are queued (the GPU): on the CPU a step runs while it is recorded, so starting one ahead gains
 * nothing and would run it before the previous step's line is printed. The caller starts a step ahead only when
 * nothing has to see the weights between the two (a val loss, a sample, a checkpoint), and not with dynamic loss
 * scaling, whose scale for the next step depends on this step's gradients.
 */
export class StepQueue {
  #run: (step: number) => Promise<StepResult>;
  #ahead?: { step: number; result: Promise<StepResult> };

  /** @param run Starts step `step` (0-based) and resolves with its result (`trainStep` with the run's settings). */
  constructor(run: (step: number) => Promise<StepResult>) {
    this.#run = run;
  }

  /** The step already started ahead, if any. */
  get ahead(): number | undefined {
    return this.#ahead?.step;
  }

  /**
   * Step `step`'s result: the one started ahead, or started now.
   *
   * @param step The step (0-based).
   * @returns Its result.
   */
  take(step: number): Promise<StepResult> {
    const started = this.#ahead?.step === step ? this.#ahead.result : undefined;
    if (this.#ahead && !started) throw new Error(`step ${this.#ahead.step} was started ahead, not ${step}`);
    this.#ahead = undefined;
    return started ?? this.#run(step);
  }

  /**
   * Starts step `step` now (after the step being taken, before its result is awaited).
   *
   * @param step The next step (0-based).
   */
  startAhead(step: number): void {
    const result = this.#run(step);
    result.catch(() => {}); // a run that stops before taking it (an error in the step before) leaves it unawaited
    this.#ahead = { step, result };
  }
}

/**
 * Milliseconds per step as the step lines report them. A step not started ahead takes from its start to its result.
 * Where steps overlap (`StepQueue`), results can come in bursts, two at once (the H200 showed a 9.8 ms "step"
 * between ~430 ms ones), so such a step gets the mean interval between the last `window` results instead, counted
 * from the result of the last step not started ahead: that step's own time (the first step's includes the shader
 * compiles, seconds) is not averaged into the steps after it.
 */
export class StepTimes {
  #recent: number[] = [];
  #window: number;
  #restarted = false;

  /** @param window Results to average over, where steps overlap. */
  constructor(window = 8) {
    this.#window = window;
  }

  /**
   * A step that was not started ahead starts now: the intervals restart from it.
   *
   * @param t Its start, in ms (`performance.now()`).
   */
  restart(t: number): void {
    this.#recent = [t];
    this.#restarted = true;
  }

  /**
   * A step's result came in.
   *
   * @param t When, in ms.
   * @returns The step's milliseconds.
   */
  done(t: number): number {
    if (this.#restarted) {
      this.#restarted = false;
      const since = this.#recent[0];
      this.#recent = [t]; // the steps after it count from its result
      return t - since;
    }
    this.#recent.push(t);
    if (this.#recent.length > this.#window + 1) this.#recent.shift();
    return (t - this.#recent[0]) / (this.#recent.length - 1);
  }
}
