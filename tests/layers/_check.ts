/**
 * Helpers for the layer tests: seeded random inputs, central finite differences in float64, and closeness
 * assertions that report the worst element.
 *
 * @module
 */
import { SeededRandom } from "../../model/init.ts";

/** A seeded generator of test data. */
export function rng(seed: number): SeededRandom {
  return new SeededRandom(seed);
}

/** n normal values times `scale`, as float32. */
export function randn(r: SeededRandom, n: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = scale * r.normal();
  return a;
}

/** n random token ids in [0, V). */
export function randomTokens(r: SeededRandom, n: number, V: number): Int32Array {
  const a = new Int32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.floor(r.uniform() * V);
  return a;
}

/** A float32 array full of NaN, to prove an output is written in full. */
export function poisoned(n: number): Float32Array {
  return new Float32Array(n).fill(NaN);
}

/**
 * d objective / d x[i] for every i by central differences, in float64: (J(x + h·eᵢ) - J(x - h·eᵢ)) / 2h. The error is
 * O(h²) from truncation plus ~1e-16/h from rounding: about 1e-10 relative at h = 1e-5 for smooth objectives.
 */
export function finiteDifferences(objective: (x: Float64Array) => number, x: Float64Array, h = 1e-5): Float64Array {
  const grad = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const orig = x[i];
    x[i] = orig + h;
    const plus = objective(x);
    x[i] = orig - h;
    const minus = objective(x);
    x[i] = orig;
    grad[i] = (plus - minus) / (2 * h);
  }
  return grad;
}

/** Σ a[i]·b[i] in float64. */
export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** a - b elementwise, in float64. */
export function minus(a: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] - b[i];
  return out;
}

/**
 * Throws unless |actual[i] - expected[i]| ≤ atol + rtol·|expected[i]| for every i (NaN fails), naming the worst
 * element.
 */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: { atol: number; rtol?: number },
  label: string,
): void {
  if (actual.length !== expected.length) {
    throw new Error(`${label}: length ${actual.length}, expected ${expected.length}`);
  }
  const rtol = tol.rtol ?? 0;
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < actual.length; i++) {
    const err = Math.abs(actual[i] - expected[i]);
    const excess = err - (tol.atol + rtol * Math.abs(expected[i]));
    if (!(excess <= 0) && (worst < 0 || !(excess <= worstExcess))) {
      worst = i;
      worstExcess = excess;
    }
  }
  if (worst >= 0) {
    throw new Error(
      `${label}: element ${worst} is ${actual[worst]}, expected ${expected[worst]} ` +
        `(atol ${tol.atol}, rtol ${rtol})`,
    );
  }
}

/** Widens to float64. */
export function f64(a: ArrayLike<number>): Float64Array {
  return Float64Array.from(a);
}
