/**
 * Dynamic loss scaling, as in Micikevicius et al., "Mixed Precision Training" (ICLR 2018): the loss is multiplied by
 * a scale S before backward so that small gradients stay representable in a narrow float format, and the gradients
 * are multiplied by 1/S before the update. A step whose gradients overflowed (an Inf or NaN gradient norm) is
 * skipped and S halves; after `GROWTH_INTERVAL` clean steps in a row S doubles. S starts at 2¹⁶. Powers of two keep
 * the scaling exact in float32, so in an fp32 run it changes nothing but what overflows. The state is saved with the
 * run (the train state file), so a resumed run scales and skips as the uninterrupted one does.
 *
 * @module
 */

/** The scale a run starts with. */
export const INITIAL_LOSS_SCALE = 2 ** 16;
/** Clean steps in a row after which the scale doubles. */
export const GROWTH_INTERVAL = 2000;
/** Below this the scale is not halved further: gradients that are not finite at any scale mean divergence. */
export const MIN_LOSS_SCALE = 2 ** -24;

/** What a run saves of its loss scale. */
export interface LossScaleState {
  scale: number;
  /** Clean steps since the scale last changed. */
  cleanSteps: number;
  /** Steps skipped so far (AdamW's step count is the trainer's minus these). */
  skipped: number;
}

/**
 * The scale and its bookkeeping.
 *
 * @example
 * ```ts
 * import { DynamicLossScale } from "./loss_scale.ts";
 * const s = new DynamicLossScale();
 * if (s.observe(Infinity) !== "skipped" || s.scale !== 2 ** 15) throw new Error("an overflow halves the scale");
 * if (s.observe(0.5) !== "applied" || s.state().skipped !== 1) throw new Error("a clean step is applied");
 * ```
 */
export class DynamicLossScale {
  #scale: number;
  #clean: number;
  #skipped: number;

  /** @param state A saved state to continue from (default: a fresh one at 2¹⁶). */
  constructor(state?: LossScaleState) {
    this.#scale = state?.scale ?? INITIAL_LOSS_SCALE;
    this.#clean = state?.cleanSteps ?? 0;
    this.#skipped = state?.skipped ?? 0;
    if (!(this.#scale > 0 && Number.isFinite(this.#scale) && this.#clean >= 0 && this.#skipped >= 0)) {
      throw new RangeError(`not a loss-scale state: ${JSON.stringify(state)}`);
    }
  }

  /** The factor the next step's loss is multiplied by. */
  get scale(): number {
    return this.#scale;
  }

  /** Steps skipped so far. */
  get skipped(): number {
    return this.#skipped;
  }

  /**
   * Takes the step's gradient norm (of the gradients scaled back by 1/scale): Inf or NaN means the step was skipped
   * (the update is asked to skip it) and the scale halves; otherwise the step counts as clean.
   *
   * @param norm The step's gradient norm.
   * @returns What happened to the step; "diverged" when it overflowed with the scale already at its minimum.
   */
  observe(norm: number): "applied" | "skipped" | "diverged" {
    if (Number.isFinite(norm)) {
      if (++this.#clean === GROWTH_INTERVAL) {
        this.#scale *= 2;
        this.#clean = 0;
      }
      return "applied";
    }
    this.#skipped++;
    this.#clean = 0;
    if (this.#scale <= MIN_LOSS_SCALE) return "diverged";
    this.#scale /= 2;
    return "skipped";
  }

  /** The state to save. */
  state(): LossScaleState {
    return { scale: this.#scale, cleanSteps: this.#clean, skipped: this.#skipped };
  }
}
