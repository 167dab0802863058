/**
 * Seeded random initialization, as GPT-2 and llm.c do it: weights ~ N(0, 0.02), the two projections that write into
 * the residual stream (attprojw, fcprojw) ~ N(0, 0.02/√(2L)), biases 0, layernorm weights 1 and biases 0, wte's
 * padded rows (V … Vp-1) 0.
 *
 * Random numbers: xoshiro128** (Blackman & Vigna; 32-bit state words, period 2¹²⁸ - 1) seeded through splitmix32,
 * turned into normals by Box-Muller (two uniforms → two normals). The stream is consumed in parameter order, so a
 * seed always gives the same model.
 *
 * @module
 */
import type { GPT2Config } from "./config.ts";
import { type ParameterName, parameterSpecs } from "./tensors.ts";

/** Standard deviation of GPT-2's weight initialization. */
export const INIT_STD = 0.02;

/** A deterministic source of uniform and normal numbers (xoshiro128** + Box-Muller). */
export class SeededRandom {
  #s0: number;
  #s1: number;
  #s2: number;
  #s3: number;
  #spareNormal: number | undefined;

  /**
   * Seeds the generator.
   *
   * @param seed Any integer; equal seeds give equal streams.
   */
  constructor(seed: number) {
    // splitmix32 spreads the seed over the four state words (never all zero).
    let x = seed >>> 0;
    const next = () => {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.#s0 = next();
    this.#s1 = next();
    this.#s2 = next();
    this.#s3 = next();
  }

  /** The next uniform 32-bit unsigned integer (xoshiro128**). */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.#s1, 5), 7), 9) >>> 0;
    const t = this.#s1 << 9;
    this.#s2 ^= this.#s0;
    this.#s3 ^= this.#s1;
    this.#s1 ^= this.#s2;
    this.#s0 ^= this.#s3;
    this.#s2 ^= t;
    this.#s3 = rotl(this.#s3, 11);
    return result;
  }

  /** A uniform number in [0, 1) with 32 random bits. */
  uniform(): number {
    return this.nextUint32() / 4294967296;
  }

  /**
   * A standard normal number (Box-Muller: r = √(-2 ln u1), θ = 2π u2 gives r·cos θ and r·sin θ).
   *
   * @example
   * ```ts
   * import { SeededRandom } from "./init.ts";
   * const a = new SeededRandom(7), b = new SeededRandom(7);
   * if (a.normal() !== b.normal()) throw new Error("same seed, same stream");
   * ```
   */
  normal(): number {
    if (this.#spareNormal !== undefined) {
      const z = this.#spareNormal;
      this.#spareNormal = undefined;
      return z;
    }
    const u1 = (this.nextUint32() + 1) / 4294967296; // (0, 1]: log is finite
    const theta = 2 * Math.PI * this.uniform();
    const r = Math.sqrt(-2 * Math.log(u1));
    this.#spareNormal = r * Math.sin(theta);
    return r * Math.cos(theta);
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/**
 * Generates GPT-2's initial parameters one tensor at a time (so only one tensor is held on the host), in llm.c's
 * order.
 *
 * @param config Model shape.
 * @param seed Random seed.
 * @returns [name, values] pairs, values with exactly the tensor's element count.
 * @example
 * ```ts
 * import { randomParameters } from "./init.ts";
 * import { parseModelDescriptor } from "./config.ts";
 * for (const [name, data] of randomParameters(parseModelDescriptor("layers=1,heads=1,channels=4,seq=2,vocab=3")!, 1)) {
 *   if (name === "ln1w" && data[0] !== 1) throw new Error("layernorm weights start at 1");
 * }
 * ```
 */
export function* randomParameters(config: GPT2Config, seed: number): Generator<[ParameterName, Float32Array]> {
  const rng = new SeededRandom(seed);
  const residualStd = INIT_STD / Math.sqrt(2 * config.numLayers);
  for (const spec of parameterSpecs(config)) {
    const name = spec.name as ParameterName;
    const data = new Float32Array(spec.shape.reduce((a, b) => a * b, 1));
    if (name === "ln1w" || name === "ln2w" || name === "lnfw") {
      data.fill(1);
    } else if (name.endsWith("b")) {
      // biases (qkvb, attprojb, fcb, fcprojb) and layernorm biases stay 0
    } else {
      const std = name === "attprojw" || name === "fcprojw" ? residualStd : INIT_STD;
      // wte's padded rows V..Vp-1 stay 0
      const n = name === "wte" ? config.vocabSize * config.channels : data.length;
      for (let i = 0; i < n; i++) data[i] = std * rng.normal();
    }
    yield [name, data];
  }
}
