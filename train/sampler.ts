/**
 * Token sampling for `train -s` and `generate`: llm.c's xorshift64* generator (seed 1337 by default, so sampled
 * text can be compared with llm.c's), a sampler over one row of logits with temperature, top-k and top-p, and the
 * trainer's sample text.
 *
 * @module
 */

const MULT = 0x2545f4914f6cdd1dn;
const MASK64 = (1n << 64n) - 1n;

/** xorshift64* (as llm.c's `random_u32`/`random_f32`); its state is a string so it fits in JSON checkpoints. */
export class Xorshift64Star {
  #state: bigint;

  /** @param seed A 64-bit seed (number or decimal string from `state()`); 0 is replaced by 1337. */
  constructor(seed: number | string = 1337) {
    this.#state = BigInt(seed) & MASK64 || 1337n;
  }

  /** The next uniform 32-bit unsigned integer. */
  nextUint32(): number {
    let x = this.#state;
    x ^= x >> 12n;
    x = (x ^ (x << 25n)) & MASK64;
    x ^= x >> 27n;
    this.#state = x;
    return Number(((x * MULT) & MASK64) >> 32n);
  }

  /** A uniform float in [0, 1) with 24 random bits, as llm.c's `random_f32`. */
  nextFloat(): number {
    return (this.nextUint32() >>> 8) / 16777216;
  }

  /** The generator's state, to store and pass back to the constructor. */
  state(): string {
    return this.#state.toString();
  }
}

/** How to turn logits into a token. */
export interface SamplingOptions {
  /** Divides the logits; 0 means greedy (argmax). Default 1. */
  temperature?: number;
  /** Keep only the k most likely tokens (0 = all). */
  topK?: number;
  /** Keep the smallest set of tokens whose probability reaches p (1 = all). */
  topP?: number;
}

/**
 * Samples a token id from `logits[0..V)` with a uniform `coin` in [0, 1).
 *
 * @param logits One row of logits (at least V values; padded columns beyond V are ignored).
 * @param V Vocabulary size.
 * @param coin Uniform random number in [0, 1).
 * @param options Temperature, top-k, top-p.
 * @returns The token id.
 * @example
 * ```ts
 * import { sampleToken } from "./sampler.ts";
 * const logits = new Float32Array([0, 10, 0, 0]);
 * if (sampleToken(logits, 4, 0.5, { temperature: 0 }) !== 1) throw new Error("greedy picks the max");
 * if (sampleToken(logits, 4, 0.3, { topK: 1 }) !== 1) throw new Error("top-1 is greedy");
 * ```
 */
export function sampleToken(logits: ArrayLike<number>, V: number, coin: number, options: SamplingOptions = {}): number {
  const temperature = options.temperature ?? 1;
  if (temperature <= 0) {
    let best = 0;
    for (let i = 1; i < V; i++) if (logits[i] > logits[best]) best = i;
    return best;
  }
  let maxLogit = -Infinity;
  for (let i = 0; i < V; i++) maxLogit = Math.max(maxLogit, logits[i]);
  const probs = new Float64Array(V);
  let sum = 0;
  for (let i = 0; i < V; i++) sum += probs[i] = Math.exp((logits[i] - maxLogit) / temperature);
  const topK = options.topK ?? 0;
  const topP = options.topP ?? 1;
  let candidates: number[] | undefined;
  if ((topK > 0 && topK < V) || topP < 1) {
    candidates = Array.from({ length: V }, (_, i) => i).sort((a, b) => probs[b] - probs[a] || a - b);
    if (topK > 0 && topK < V) candidates.length = topK;
    if (topP < 1) {
      let kept = 0, mass = 0;
      while (kept < candidates.length && mass < topP * sum) mass += probs[candidates[kept++]];
      candidates.length = Math.max(1, kept);
    }
  }
  const ids = candidates ?? Array.from({ length: V }, (_, i) => i);
  let total = 0;
  for (const i of ids) total += probs[i];
  let cdf = 0;
  const target = coin * total;
  for (const i of ids) {
    cdf += probs[i];
    if (target < cdf) return i;
  }
  return ids[ids.length - 1];
}
