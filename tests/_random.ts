/**
 * Seeded random test data, from the one generator the library itself uses (`SeededRandom` in model/init.ts:
 * xoshiro128** with Box-Muller normals): uniform and normal float32 arrays, and token ids. Equal seeds give equal
 * data, so a failure reproduces.
 *
 * @module
 */
import { SeededRandom } from "../model/init.ts";

/** A seeded generator of test data. */
export function rng(seed: number): SeededRandom {
  return new SeededRandom(seed);
}

/** Fills `out` with uniform values in [-scale, scale) and returns it (for views into a shared memory). */
export function fillUniform(r: SeededRandom, out: Float32Array, scale = 1): Float32Array {
  for (let i = 0; i < out.length; i++) out[i] = scale * (r.uniform() * 2 - 1);
  return out;
}

/** n uniform values in [-scale, scale), as float32. */
export function uniform(r: SeededRandom, n: number, scale = 1): Float32Array {
  return fillUniform(r, new Float32Array(n), scale);
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
