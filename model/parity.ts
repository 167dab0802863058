/**
 * Parity with a reference (llm.c's test_gpt2, PyTorch, transformers): the tolerances that `gpt2 test` and the
 * parity tests apply, the max-abs-difference measures they apply them to, and test_gpt2's AdamW run. A check
 * passes when `diff <= tolerance`; NaN never does, so an output left unwritten (or poisoned with NaN) fails.
 *
 * @example
 * ```ts
 * import { maxAbsDiff, TENSOR_TOLERANCE } from "./parity.ts";
 * const diff = maxAbsDiff(new Float32Array([1, 2]), [1, 2.00001]);
 * if (!(diff <= TENSOR_TOLERANCE)) throw new Error(`differs by ${diff}`);
 * ```
 *
 * @module
 */
import type { AdamWHyper } from "../layers/adamw.ts";

/**
 * Max abs difference allowed for the logits and for each parameter gradient: 100× tighter than llm.c's CPU
 * test_gpt2 (1e-2). The references are float64 rounded once to float32, and fp32 done right lands around 1e-7.
 */
export const TENSOR_TOLERANCE = 1e-4;
/** Max abs difference allowed for the mean loss of the first forward pass (a mean of B·T float32 terms, O(1)). */
export const LOSS_TOLERANCE = 1e-5;
/** Max abs difference allowed for each of the 10 AdamW-step losses (errors compound over the steps). */
export const LOSSES_TOLERANCE = 1e-4;

/** The tolerances of one precision: logits and gradients, the first loss, the 10 step losses. */
export interface ParityTolerances {
  tensor: number;
  loss: number;
  losses: number;
}

/**
 * The tolerances per `--precision`. f16 (the matmuls read the weights rounded to halves, relative error ≤ 2^-11):
 * the step losses and the first loss within 1e-2 of the float64 reference (llm.c's bf16 test_gpt2 allows 5e-2 for
 * its losses), the logits and gradients within 1e-2, llm.c's CPU test_gpt2 threshold. On the committed fixture
 * (tests/testdata/small) f16 measured 1.3e-3 on the logits, ≤ 8e-5 on the gradients and 7e-5 on the losses.
 */
export const PARITY_TOLERANCES: Readonly<Record<"fp32" | "f16", ParityTolerances>> = {
  fp32: { tensor: TENSOR_TOLERANCE, loss: LOSS_TOLERANCE, losses: LOSSES_TOLERANCE },
  f16: { tensor: 1e-2, loss: 1e-2, losses: 1e-2 },
};

/** The AdamW settings of llm.c's test_gpt2 (no gradient clipping), for its steps on one batch. */
export const PARITY_ADAMW: Readonly<Omit<AdamWHyper, "step" | "gradScale">> = {
  learningRate: 1e-4,
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  weightDecay: 0.01,
};
/** How many AdamW steps test_gpt2 takes on its batch (and how many losses its expected list holds). */
export const PARITY_STEPS = 10;

/**
 * The largest |a[i] - b[i]|.
 *
 * @example
 * ```ts
 * import { maxAbsDiff } from "./parity.ts";
 * console.log(maxAbsDiff([1, 2, 3], [1, 2.5, 2])); // 1
 * console.log(maxAbsDiff([1, NaN], [1, 2])); // NaN: a check `diff <= tolerance` fails
 * ```
 *
 * @param a One array.
 * @param b The other, as long as `a`.
 * @returns The max abs difference; NaN if any difference is NaN; 0 for empty arrays.
 * @throws RangeError if the lengths differ.
 */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) {
    throw new RangeError(`Cannot compare ${a.length} values with ${b.length}; pass arrays of one length`);
  }
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (Number.isNaN(d)) return NaN;
    if (d > max) max = d;
  }
  return max;
}

/**
 * The largest difference between rows padded to Vp columns, (N, Vp), and unpadded rows, (N, V), over the first V
 * columns of each row: our logits (wte has Vp rows) against a reference's (V columns).
 *
 * @example
 * ```ts
 * import { maxAbsDiffPadded } from "./parity.ts";
 * const padded = new Float32Array([1, 2, 0, 3, 4, 0]); // N=2 rows of Vp=3
 * console.log(maxAbsDiffPadded(padded, [1, 2, 3, 4.5], { V: 2, Vp: 3 })); // 0.5
 * ```
 *
 * @param padded (N, Vp) values; the columns V..Vp-1 are ignored.
 * @param unpadded (N, V) values; N is its length / V.
 * @param sizes `V` real columns of `Vp` in each padded row.
 * @returns The max abs difference; NaN if any difference is NaN.
 * @throws RangeError if the lengths are not N·V and N·Vp for one N.
 */
export function maxAbsDiffPadded(
  padded: ArrayLike<number>,
  unpadded: ArrayLike<number>,
  sizes: { V: number; Vp: number },
): number {
  const { V, Vp } = sizes;
  const N = unpadded.length / V;
  if (!Number.isInteger(N) || V > Vp || padded.length !== N * Vp) {
    throw new RangeError(
      `Cannot compare (N, ${Vp}) rows of ${padded.length} values with (N, ${V}) rows of ${unpadded.length}; ` +
        `pass N·${Vp} and N·${V} values`,
    );
  }
  let max = 0;
  for (let n = 0; n < N; n++) {
    for (let v = 0; v < V; v++) {
      const d = Math.abs(padded[n * Vp + v] - unpadded[n * V + v]);
      if (Number.isNaN(d)) return NaN;
      if (d > max) max = d;
    }
  }
  return max;
}
