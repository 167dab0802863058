/**
 * The ETA of a training run: the remaining optimizer steps plus the val losses, samples and checkpoints still
 * scheduled, each at its measured cost. With the defaults, val loss and samples take more wall time than the steps
 * of a small model, so an ETA of steps alone would be off by half or more.
 *
 * @module
 */

/** When the trainer does what (the `-v`, `-s`, `-n` flags), as in `train/trainer.ts`. */
export interface RunSchedule {
  maxSteps: number;
  /** Val loss every N steps and at the end (0: never). */
  valEvery: number;
  /** Sample every N steps (not at step 0) and at the end (0: never). */
  sampleEvery: number;
  /** Checkpoint every N steps (0: only at the end); ignored without an output directory. */
  checkpointEvery: number;
  checkpoints: boolean;
  valBatches: number;
  /** Tokens per sample; a sample of ≤ 1 token is not taken. */
  genTokens: number;
}

/** What takes time, measured once each happened. */
export type Activity = "step" | "val" | "sample" | "checkpoint";

/**
 * Measures each activity and projects the rest of the run.
 *
 * @example
 * ```ts
 * import { RunClock } from "./eta.ts";
 * const clock = new RunClock({ maxSteps: 10, valEvery: 5, sampleEvery: 0, checkpointEvery: 0, checkpoints: false,
 *   valBatches: 4, genTokens: 0 });
 * clock.record("val", 400);
 * clock.record("step", 100);
 * // after step 2: 8 steps of 100 ms and val at steps 5 and 10 of 400 ms each
 * if (Math.abs(clock.secondsLeft(2) - 1.6) > 1e-9) throw new Error(String(clock.secondsLeft(2)));
 * ```
 */
export class RunClock {
  readonly #plan: RunSchedule;
  readonly #ms: Partial<Record<Activity, number>> = {};

  /** @param plan The run's schedule. */
  constructor(plan: RunSchedule) {
    this.#plan = plan;
  }

  /**
   * Records how long one activity took; steps are averaged (exponential, 0.9), the others keep the latest.
   *
   * @param activity What was timed.
   * @param ms Its wall time in milliseconds.
   */
  record(activity: Activity, ms: number): void {
    const previous = this.#ms[activity];
    this.#ms[activity] = activity === "step" && previous !== undefined ? 0.9 * previous + 0.1 * ms : ms;
  }

  /**
   * Seconds until the run ends after `done` steps: the remaining steps, then every val, sample and checkpoint of
   * iterations `done + 1 … maxSteps`. Not yet measured: a val batch or a sampled token costs one forward pass,
   * estimated as a third of a step (forward + backward ≈ 3 forwards) until a val loss has been timed; a checkpoint
   * counts 0 until one was written.
   *
   * @param done Optimizer steps completed.
   * @returns Seconds, NaN before any step was timed.
   */
  secondsLeft(done: number): number {
    const p = this.#plan;
    const step = this.#ms.step ?? NaN;
    const forward = this.#ms.val !== undefined ? this.#ms.val / p.valBatches : step / 3;
    const val = this.#ms.val ?? p.valBatches * forward;
    const sample = this.#ms.sample ?? Math.max(0, p.genTokens - 1) * forward;
    const from = done + 1, to = p.maxSteps;
    let ms = Math.max(0, to - done) * step;
    if (p.valEvery > 0) ms += scheduled(from, to, p.valEvery) * val;
    if (p.sampleEvery > 0 && p.genTokens > 1) ms += scheduled(from, to, p.sampleEvery) * sample;
    if (p.checkpoints) ms += scheduled(from, to, p.checkpointEvery) * (this.#ms.checkpoint ?? 0);
    return ms / 1000;
  }
}

/** How many of the iterations `from … to` do an activity that happens every `every` steps (0: never) and at `to`. */
export function scheduled(from: number, to: number, every: number): number {
  if (from > to) return 0;
  const multiples = every > 0 ? Math.floor(to / every) - Math.floor((from - 1) / every) : 0;
  return multiples + (every > 0 && to % every === 0 ? 0 : 1);
}
