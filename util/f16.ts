/**
 * 16-bit floats on the host: IEEE 754 half precision (binary16: float32 ↔ half bits, rounding a float32 to the
 * nearest half, packing halves two to a word) and bfloat16 (the top half of a float32: checkpoints v5, safetensors).
 * The GPU's f16 tensors hold halves packed two to a word (`GpuDType` "f16"); the CPU twin of a kernel that stores
 * f16 computes with the same rounded values (`roundToHalf`), so the two are compared at float32 tolerances.
 *
 * @module
 */

const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);

/**
 * The half nearest to `x` (ties to even), as its 16 bits: overflow gives ±Infinity, tiny values become subnormal
 * halves or ±0, NaN stays NaN.
 *
 * @param x A number (taken as float32 first).
 * @returns The binary16 bit pattern.
 * @example
 * ```ts
 * import { halfBits } from "./f16.ts";
 * if (halfBits(1) !== 0x3c00 || halfBits(-2) !== 0xc000 || halfBits(65520) !== 0x7c00) throw new Error("bits");
 * ```
 */
export function halfBits(x: number): number {
  F32[0] = x;
  const bits = U32[0];
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  const mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0); // Inf, NaN (quiet)
  const e = exponent - 127 + 15; // the half's biased exponent
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign; // below half the smallest subnormal: ±0
    // Subnormal: the full significand (implicit 1 included) shifted right by 14 - e, rounded to even.
    const significand = mantissa | 0x800000;
    const shift = 14 - e;
    const kept = significand >>> shift;
    const rest = significand & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    const round = rest > halfway || (rest === halfway && (kept & 1) === 1) ? 1 : 0;
    return sign | (kept + round);
  }
  const kept = mantissa >>> 13;
  const rest = mantissa & 0x1fff;
  const round = rest > 0x1000 || (rest === 0x1000 && (kept & 1) === 1) ? 1 : 0;
  // A carry out of the mantissa moves into the exponent, which is the right result (up to Infinity).
  return sign | ((e << 10) + kept + round);
}

/**
 * The value of a binary16 bit pattern.
 *
 * @param bits 16 bits.
 * @returns The number.
 * @example
 * ```ts
 * import { halfValue } from "./f16.ts";
 * if (halfValue(0x3c00) !== 1 || halfValue(0x0001) !== 2 ** -24 || halfValue(0xfc00) !== -Infinity) {
 *   throw new Error("value");
 * }
 * ```
 */
export function halfValue(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >>> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 31) return mantissa ? NaN : sign * Infinity;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/**
 * `x` rounded to the nearest half (ties to even), as a number.
 *
 * @param x A number.
 * @returns The half's value.
 * @example
 * ```ts
 * import { roundToHalf } from "./f16.ts";
 * if (roundToHalf(1 + 2 ** -12) !== 1 || roundToHalf(0.1) !== 0.0999755859375) throw new Error("round");
 * ```
 */
export function roundToHalf(x: number): number {
  return halfValue(halfBits(x));
}

/**
 * Halves packed two to a 32-bit word, element 2w in the low 16 bits of word w (`pack2x16float`'s order); an odd
 * count leaves the last high half zero.
 *
 * @param values The numbers.
 * @returns ⌈n / 2⌉ words.
 */
export function packHalves(values: ArrayLike<number>): Uint32Array {
  const words = new Uint32Array(Math.ceil(values.length / 2));
  for (let i = 0; i < values.length; i++) words[i >> 1] |= halfBits(values[i]) << (16 * (i & 1));
  return words;
}

/**
 * The values of `count` halves packed two to a word (the inverse of `packHalves`).
 *
 * @param words Packed halves.
 * @param count Halves to unpack (≤ 2 · words.length).
 * @returns Their values.
 */
export function unpackHalves(words: Uint32Array, count: number): Float32Array {
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = halfValue((words[i >> 1] >>> (16 * (i & 1))) & 0xffff);
  return out;
}

let f16Table: Float32Array | undefined;

/**
 * Widens IEEE half-precision bit patterns to float32 (exact), through a 65,536-entry table built on first use.
 *
 * @param bits F16 values as uint16.
 * @param out Destination, same length.
 * @example
 * ```ts
 * import { f16ToF32 } from "./f16.ts";
 * const out = new Float32Array(2);
 * f16ToF32(new Uint16Array([0x3c00, 0x0001]), out); // 1 and the smallest subnormal
 * if (out[0] !== 1 || out[1] !== 2 ** -24) throw new Error("bad f16");
 * ```
 */
export function f16ToF32(bits: Uint16Array, out: Float32Array): void {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = halfValue(h);
  }
  for (let i = 0; i < bits.length; i++) out[i] = f16Table[bits[i]];
}

/**
 * Widens bfloat16 bit patterns to float32 (exact: bf16 is the top half of an fp32).
 *
 * @param bits BF16 values as uint16.
 * @param out Destination, same length (a new array by default).
 * @returns `out`.
 * @example
 * ```ts
 * import { bf16BitsToF32 } from "./f16.ts";
 * if (bf16BitsToF32(new Uint16Array([0x3f80]))[0] !== 1) throw new Error("0x3f80 is 1.0");
 * ```
 */
export function bf16BitsToF32(bits: Uint16Array, out: Float32Array = new Float32Array(bits.length)): Float32Array {
  const wide = new Uint32Array(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < bits.length; i++) wide[i] = bits[i] << 16;
  return out;
}

/**
 * Rounds float32 values to bfloat16 bit patterns, to nearest with ties to even (as PyTorch and llm.c do); NaN stays
 * a quiet NaN.
 *
 * @param values float32 values.
 * @returns BF16 bits.
 * @example
 * ```ts
 * import { f32ToBf16Bits } from "./f16.ts";
 * // 1 + 2^-8 is halfway between bf16 1 and 1 + 2^-7: ties go to the even mantissa, 1.
 * if (f32ToBf16Bits(new Float32Array([1 + 2 ** -8]))[0] !== 0x3f80) throw new Error("ties to even");
 * ```
 */
export function f32ToBf16Bits(values: Float32Array): Uint16Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < bits.length; i++) {
    const b = bits[i];
    if ((b & 0x7fffffff) > 0x7f800000) out[i] = (b >>> 16) | 0x40;
    else out[i] = (b + 0x7fff + ((b >>> 16) & 1)) >>> 16;
  }
  return out;
}
