/**
 * The element-by-element closeness check of every kernel and layer test: llm.c's validator rule
 * `|got - want| <= atol + rtol·|want|`, optionally with a per-element magnitude in place of |want| and a mask.
 *
 * @module
 */
import { AssertionError } from "node:assert";

/** How close `actual` must be to `expected`, element by element. */
export interface Closeness {
  /** Absolute tolerance. */
  atol: number;
  /** Relative tolerance, times |expected[i]| (or `magnitude[i]`). Default 0. */
  rtol?: number;
  /**
   * The scale rtol multiplies in place of |expected[i]|: e.g. Σ|terms| of each sum, computed with a float64
   * reference, so that cancellation does not make the bound too tight.
   */
  magnitude?: ArrayLike<number>;
  /** Compare only the elements where this is true (e.g. on and below the diagonal of attention scores). */
  mask?: (i: number) => boolean;
}

/**
 * Asserts |actual[i] - expected[i]| <= atol + rtol·(magnitude[i] ?? |expected[i]|) for every compared i; NaN
 * fails, so elements a kernel never wrote over a NaN-poisoned output fail.
 *
 * @param actual The result under test.
 * @param expected The reference.
 * @param tol The tolerances, and optionally a magnitude per element and a mask.
 * @param name The tensor, for the message.
 * @returns The max abs difference over the compared elements.
 * @throws AssertionError naming the tensor and the worst element (index, got, want, bound) and how many failed;
 *   also when the lengths differ or the mask leaves nothing to compare.
 */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: Closeness,
  name: string,
): number {
  const { atol, rtol = 0, magnitude, mask } = tol;
  if (actual.length !== expected.length || (magnitude && magnitude.length !== expected.length)) {
    const mag = magnitude ? `, magnitude ${magnitude.length}` : "";
    fail(`${name}: length ${actual.length}, want ${expected.length}${mag}`);
  }
  let worst = -1, worstExcess = 0, failed = 0, compared = 0, max = 0;
  for (let i = 0; i < expected.length; i++) {
    if (mask && !mask(i)) continue;
    compared++;
    const diff = Math.abs(actual[i] - expected[i]);
    const excess = diff - (atol + rtol * (magnitude ? magnitude[i] : Math.abs(expected[i])));
    if (!(excess <= 0)) {
      failed++;
      if (worst < 0 || !(excess <= worstExcess)) [worst, worstExcess] = [i, excess]; // NaN is the worst
    }
    if (diff > max) max = diff;
  }
  if (compared === 0) fail(`${name}: nothing compared`);
  if (worst >= 0) {
    const scale = magnitude ? `magnitude ${magnitude[worst]}` : `|want|`;
    fail(
      `${name}[${worst}]: got ${actual[worst]}, want ${expected[worst]} ` +
        `(|diff| ${Math.abs(actual[worst] - expected[worst])} > atol ${atol} + rtol ${rtol} · ${scale}); ` +
        `${failed} of ${compared} elements out of tolerance`,
    );
  }
  return max;
}

function fail(message: string): never {
  throw new AssertionError({ message });
}
