/**
 * Learning-rate schedules of llm.c's trainer (`-k`): linear warmup over `-u` steps, then `cosine`, `linear`,
 * `constant` or `wsd` (warmup-stable-decay) down to `-q` × the peak learning rate at the last step.
 *
 * @module
 */
import { UsageError } from "../util/errors.ts";

/** Names accepted by `-k`. */
export const SCHEDULE_KINDS = ["cosine", "linear", "constant", "wsd"] as const;
/** One of the schedule names. */
export type ScheduleKind = typeof SCHEDULE_KINDS[number];

/** Everything a schedule depends on. */
export interface ScheduleOptions {
  kind: ScheduleKind;
  /** Peak learning rate (`-l`). */
  learningRate: number;
  /** Linear warmup steps (`-u`). */
  warmupSteps: number;
  /** Final learning rate as a fraction of the peak (`-q`). */
  finalFraction: number;
  /** Total steps of the run (`-x`). */
  totalSteps: number;
  /** wsd only: fraction of the run spent decaying at the end (default 0.2). */
  cooldownFraction?: number;
}

/**
 * The learning rate at 0-based `step`. Warmup is `lr·(step+1)/warmup`; after it the decay runs over the remaining
 * steps: cosine `min + ½(1+cos πr)(lr−min)`, linear `lr − r(lr−min)`, constant `lr`, and wsd holds `lr` until the
 * last `cooldownFraction` of the run, then decays with `1 − √r` (r = fraction of the cooldown done).
 *
 * @param step 0-based step index.
 * @param o Schedule options.
 * @returns Learning rate for that step.
 * @example
 * ```ts
 * import { learningRateAt } from "./schedule.ts";
 * const o = { kind: "cosine" as const, learningRate: 1e-3, warmupSteps: 10, finalFraction: 0.1, totalSteps: 100 };
 * if (learningRateAt(9, o) !== 1e-3) throw new Error("warmup ends at the peak");
 * if (Math.abs(learningRateAt(99, o) - 1e-4) > 1e-9) throw new Error("ends at the final fraction");
 * ```
 */
export function learningRateAt(step: number, o: ScheduleOptions): number {
  const peak = o.learningRate;
  const minLr = peak * o.finalFraction;
  if (step < o.warmupSteps) return peak * (step + 1) / o.warmupSteps;
  if (o.kind === "constant") return peak;
  if (o.kind === "wsd") {
    const cooldown = Math.max(1, Math.round(o.totalSteps * (o.cooldownFraction ?? 0.2)));
    const decayStart = Math.max(o.warmupSteps, o.totalSteps - cooldown);
    if (step < decayStart) return peak;
    const r = o.totalSteps - 1 > decayStart ? (step - decayStart) / (o.totalSteps - 1 - decayStart) : 1;
    return minLr + (1 - Math.sqrt(Math.min(1, r))) * (peak - minLr);
  }
  const span = o.totalSteps - 1 - o.warmupSteps;
  const r = span > 0 ? Math.min(1, (step - o.warmupSteps) / span) : 1;
  if (o.kind === "linear") return peak - r * (peak - minLr);
  return minLr + 0.5 * (1 + Math.cos(Math.PI * r)) * (peak - minLr);
}

/**
 * Checks a schedule name from the command line.
 *
 * @param name Value of `-k`.
 * @returns The name, typed.
 */
export function parseScheduleKind(name: string): ScheduleKind {
  if ((SCHEDULE_KINDS as readonly string[]).includes(name)) return name as ScheduleKind;
  throw new UsageError(`-k: unknown schedule '${name}'; use one of ${SCHEDULE_KINDS.join(", ")}`);
}
