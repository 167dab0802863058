/**
 * The argument checks of `CpuKernels`' calls (cpu/kernels.ts), each failing with the op's name: sizes that are
 * positive integers, attention's heads dividing its channels, the cross-entropy's targets inside the vocabulary, and
 * tensors that are views of the kernels' shared WebAssembly.Memory, long enough for the call.
 *
 * @module
 */
import type { AttentionSizes } from "./kernels.ts";

/**
 * The sizes `keys` of `s`, after checking each is a positive integer.
 *
 * @param op The kernel call, for the message.
 * @param s Its sizes.
 * @param keys The ones to check.
 * @returns `s`.
 */
export function positiveSizes<K extends string>(op: string, s: Record<K, number>, keys: K[]): Record<K, number> {
  for (const k of keys) {
    const v = s[k];
    if (!Number.isInteger(v) || v < 1) throw new Error(`${op}: ${k} must be a positive integer, got ${v}`);
  }
  return s;
}

/**
 * Attention's sizes, after checking them and that NH divides C.
 *
 * @param op The kernel call, for the message.
 * @param s B, T, C, NH.
 * @returns `s`.
 */
export function attentionSizes(op: string, s: AttentionSizes): AttentionSizes {
  const r = positiveSizes(op, s, ["B", "T", "C", "NH"]);
  if (r.C % r.NH !== 0) throw new Error(`${op}: C (${r.C}) must be a multiple of NH (${r.NH})`);
  return r;
}

/**
 * The sizes of a softmax + cross-entropy call, after checking V ≤ Vp and every target.
 *
 * @param memory The kernels' shared memory, which `targets` must view.
 * @param op The kernel call, for the message.
 * @param s N rows, V real and Vp padded columns.
 * @param targets The rows' target tokens.
 * @returns N, V, Vp.
 */
export function rowSizes(
  memory: WebAssembly.Memory,
  op: string,
  s: { N: number; V: number; Vp: number },
  targets: Int32Array,
): Record<"N" | "V" | "Vp", number> {
  const { N, V, Vp } = positiveSizes(op, s, ["N", "V", "Vp"]);
  if (V > Vp) throw new Error(`${op}: V (${V}) must be <= Vp (${Vp})`);
  if (!(targets instanceof Int32Array) || targets.buffer !== memory.buffer || targets.length < N) {
    throw new Error(
      `targets must be an Int32Array view of the kernels' shared WebAssembly.Memory with ${N} elements`,
    );
  }
  for (let n = 0; n < N; n++) {
    const t = targets[n];
    if (!(t >= 0 && t < V)) throw new Error(`targets[${n}] = ${t} is outside the vocabulary [0, ${V})`);
  }
  return { N, V, Vp };
}

/**
 * The byte address of `a` in the shared memory, after checking it is a view of it with at least `n` elements.
 *
 * @param memory The kernels' shared memory.
 * @param name The tensor, for the message.
 * @param a Its view.
 * @param n Elements the call reads or writes.
 * @returns Its byte offset.
 */
export function viewAddress(memory: WebAssembly.Memory, name: string, a: Float32Array, n: number): number {
  if (!(a instanceof Float32Array) || a.buffer !== memory.buffer) {
    throw new Error(`${name} must be a Float32Array view of the kernels' shared WebAssembly.Memory`);
  }
  if (a.length < n) throw new Error(`${name} has ${a.length} elements, needs ${n}`);
  return a.byteOffset;
}
