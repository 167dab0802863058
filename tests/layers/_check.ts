/**
 * Helpers for the layer tests: NaN-poisoned outputs, central finite differences in float64 and small float64
 * vector helpers. Random inputs come from tests/_random.ts and `assertClose` from tests/_assert.ts.
 *
 * @module
 */

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

/** Widens to float64. */
export function f64(a: ArrayLike<number>): Float64Array {
  return Float64Array.from(a);
}
