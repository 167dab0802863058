/**
 * GPU tensors. An arena is the GPU form of one planned role (parameters, gradients, activations …): its elements
 * live in one or more GPUBuffers ("segments"), each holding whole planned tensors. A `GpuTensor` is a view of an
 * arena (element offset + length), so per-layer slices cost nothing; binding a view to a kernel binds its whole
 * buffer (or a fixed window of a buffer larger than one binding) and passes the view's start inside it to the kernel
 * as a uniform, so the bind groups of moving views are reused.
 *
 * Activations get one segment per planned tensor: a dispatch may write one activation while reading another, and
 * WebGPU forbids a buffer bound read-only and read-write in the same dispatch. Parameters, gradients and the AdamW
 * moments are packed into as few segments as `maxBufferSize` allows (one, normally), so AdamW, the gradient norm
 * and zeroing run over a whole arena in a few dispatches.
 *
 * @module
 */
import type { TensorPlan, TensorSlot } from "../model/tensors.ts";
import { UserError } from "../util/errors.ts";
import type { GpuLimits } from "./device.ts";

/**
 * Element type of an arena. "f16" is IEEE half precision packed two to a 32-bit word (element 2w in the low half of
 * word w, 2w + 1 in the high half: `pack2x16float`'s order), which every WebGPU device can store and unpack, with or
 * without `shader-f16`; offsets, lengths and kernel bases count halves.
 */
export type GpuDType = "f32" | "i32" | "f16";

/** Bytes per element of each arena type. */
export const ELEMENT_BYTES: Readonly<Record<GpuDType, number>> = { f32: 4, i32: 4, f16: 2 };

/**
 * Bytes of `length` elements of `dtype` as stored in a GPUBuffer (whole 32-bit words).
 *
 * @param dtype The element type.
 * @param length Elements.
 * @returns Bytes, a multiple of 4.
 */
export function storageBytes(dtype: GpuDType, length: number): number {
  return Math.ceil((length * ELEMENT_BYTES[dtype]) / 4) * 4;
}

/** One GPUBuffer of an arena, holding arena elements [start, start + length). */
export interface GpuSegment {
  readonly buffer: GPUBuffer;
  readonly start: number;
  readonly length: number;
}

/** The GPU memory of one role. */
export interface GpuArena {
  /** Role name for messages ("params", "acts" …). */
  readonly name: string;
  readonly dtype: GpuDType;
  /** Number of elements, including alignment gaps (which may have no memory). */
  readonly length: number;
  /** Segments, sorted by start, not overlapping. */
  readonly segments: readonly GpuSegment[];
  /** The planned tensors, for naming a view in messages. */
  readonly slots: readonly TensorSlot[];
  /** Last host data written to an int arena (the encoder backward groups positions by token on the host). */
  host?: Int32Array;
}

/** A view of `length` elements of an arena starting at element `offset`. */
export interface GpuTensor {
  readonly arena: GpuArena;
  readonly offset: number;
  readonly length: number;
}

/** A bound buffer range: what a bind group entry needs, plus the view's start inside it. */
export interface GpuBinding {
  readonly buffer: GPUBuffer;
  /** Byte offset of the range (a multiple of minStorageBufferOffsetAlignment). */
  readonly offset: number;
  /** Byte size of the range. */
  readonly size: number;
  /** Element index of the requested first element inside the range (the kernel's `<name>_base`). */
  readonly base: number;
  /** For usage-conflict messages. */
  readonly label: string;
}

/** How an arena's tensors are spread over GPUBuffers. */
export type SegmentMode = "perTensor" | "packed";

/**
 * Splits a plan into segments (element ranges), one per tensor or packed up to `maxBufferElements`. A tensor larger
 * than one buffer is cut along its first dimension into buffers of whole slices (an (L, …) activation becomes a
 * few buffers of whole layers), so every per-layer view still lies in one buffer.
 *
 * @param name Arena name, for messages.
 * @param plan The planned tensors.
 * @param mode One buffer per tensor, or as few as fit.
 * @param maxBufferElements Largest buffer, in elements.
 * @returns [start, length] of each segment.
 * @throws UserError naming a tensor whose leading slice is larger than one buffer.
 */
export function planSegments(
  name: string,
  plan: TensorPlan,
  mode: SegmentMode,
  maxBufferElements: number,
): [number, number][] {
  const out: [number, number][] = [];
  let start = -1;
  let end = 0;
  const close = () => {
    if (start >= 0) out.push([start, end - start]);
    start = -1;
  };
  for (const slot of plan.slots) {
    if (slot.length === 0) continue;
    if (slot.length > maxBufferElements) {
      const slice = slot.shape.length > 1 ? slot.length / slot.shape[0] : slot.length;
      const per = Math.floor(maxBufferElements / slice);
      if (per < 1) {
        throw new UserError(
          `Tensor ${name}.${slot.name} needs ${formatBytes(slice * 4)} per ${
            slot.shape.length > 1 ? "slice" : "buffer"
          }` +
            `; this GPU allows ${
              formatBytes(maxBufferElements * 4)
            } per buffer (use a smaller batch or model, or --device cpu)`,
        );
      }
      close();
      for (let s = 0; s < slot.length; s += per * slice) {
        out.push([slot.offset + s, Math.min(per * slice, slot.length - s)]);
      }
      continue;
    }
    if (mode === "perTensor" || start < 0 || slot.offset + slot.length - start > maxBufferElements) {
      close();
      start = slot.offset;
    }
    end = slot.offset + slot.length;
  }
  close();
  return out;
}

/** A byte count for messages: "147.4 MiB", "2.0 KiB", "12 bytes". */
export function formatBytes(bytes: number): string {
  if (bytes >= 2 ** 20) return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${bytes} bytes`;
}

/**
 * A view of `t`: `length` elements from element `offset` of it.
 *
 * @param t The tensor.
 * @param offset Start inside `t`.
 * @param length Number of elements.
 * @returns The view (shares memory with `t`).
 */
export function viewOf(t: GpuTensor, offset: number, length: number): GpuTensor {
  if (!(offset >= 0 && length >= 0 && offset + length <= t.length) || !Number.isInteger(offset + length)) {
    throw new RangeError(`view [${offset}, ${offset + length}) is outside a tensor of ${t.length} elements`);
  }
  return { arena: t.arena, offset: t.offset + offset, length };
}

/** "acts.qkv[+1200, 600]": the arena, the planned tensor holding `t` and the view's place in it. */
export function describe(t: GpuTensor): string {
  const slot = t.arena.slots.find((s) => t.offset >= s.offset && t.offset < s.offset + s.length);
  if (!slot) {
    return t.offset === 0 && t.length === t.arena.length ? t.arena.name : `${t.arena.name}[+${t.offset}, ${t.length}]`;
  }
  if (slot.offset === t.offset && slot.length === t.length) return `${t.arena.name}.${slot.name}`;
  return `${t.arena.name}.${slot.name}[+${t.offset - slot.offset}, ${t.length}]`;
}

/** The segment holding arena elements [start, end), or undefined if they are not all in one. */
export function segmentOf(arena: GpuArena, start: number, end: number): GpuSegment | undefined {
  const segs = arena.segments;
  let lo = 0;
  let hi = segs.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const s = segs[mid];
    if (start < s.start) hi = mid - 1;
    else if (start >= s.start + s.length) lo = mid + 1;
    else return end <= s.start + s.length ? s : undefined;
  }
  return undefined;
}

/**
 * The bound byte range [offset, offset + size) of a segment for a view occupying bytes [begin, end) of it: the whole
 * buffer when one binding can hold it, else a window starting at a multiple of half the largest binding. Views that
 * move along a buffer (a decoder's position, a layer's slice) then share a few bind groups instead of making one
 * each (creating a bind group costs far more than a dispatch). A view too long for its window gets the aligned range
 * around itself.
 */
function bindingWindow(bytes: number, begin: number, end: number, limits: GpuLimits): [number, number] {
  const align = limits.minStorageBufferOffsetAlignment;
  const maxBinding = limits.maxStorageBufferBindingSize - (limits.maxStorageBufferBindingSize % 4);
  if (bytes <= maxBinding) return [0, bytes];
  const quantum = Math.max(align, Math.floor(maxBinding / 2 / align) * align);
  const offset = Math.floor(begin / quantum) * quantum;
  const size = Math.min(bytes - offset, maxBinding);
  if (end <= offset + size) return [offset, size];
  const exact = begin - (begin % align);
  return [exact, Math.ceil(end / 4) * 4 - exact];
}

/**
 * Binds elements [start, start + count) of `t`: the buffer range around them (see `bindingWindow`) and their base
 * inside it.
 *
 * @param t The tensor.
 * @param start First element, relative to `t`.
 * @param count Number of elements (at least 1).
 * @param limits Device limits (offset alignment, largest binding).
 * @returns The binding.
 * @throws UserError naming the tensor when the range is larger than one storage binding.
 */
export function bindRange(t: GpuTensor, start: number, count: number, limits: GpuLimits): GpuBinding {
  if (!(start >= 0 && count >= 1 && start + count <= t.length)) {
    throw new RangeError(`binding [${start}, ${start + count}) is outside ${describe(t)} (${t.length} elements)`);
  }
  const first = t.offset + start;
  const seg = segmentOf(t.arena, first, first + count);
  const width = ELEMENT_BYTES[t.arena.dtype];
  if (!seg) {
    // A tensor larger than maxBufferSize is split into several buffers; ops that bind it whole cannot run.
    throw new UserError(
      `Tensor ${describe(t)} (${formatBytes(t.length * width)}) is split over several GPU buffers and this op ` +
        `needs it in one; use a smaller batch (-b) or sequence (-t), or --device cpu`,
    );
  }
  const byte = (first - seg.start) * width;
  const segmentBytes = storageBytes(t.arena.dtype, seg.length);
  const [offset, size] = bindingWindow(segmentBytes, byte, byte + count * width, limits);
  if (size > limits.maxStorageBufferBindingSize) {
    throw new UserError(
      `Tensor ${describe(t)} needs a ${formatBytes(size)} binding; this GPU allows ${
        formatBytes(limits.maxStorageBufferBindingSize)
      } per binding (use a smaller batch or model, or --device cpu)`,
    );
  }
  return { buffer: seg.buffer, offset, size, base: (byte - offset) / width, label: describe(t) };
}

/**
 * Largest number of elements one binding can always hold, wherever it starts (leaves room for the alignment).
 *
 * @param limits Device limits.
 * @returns Elements.
 */
export function maxBindingElements(limits: GpuLimits): number {
  return Math.floor((limits.maxStorageBufferBindingSize - limits.minStorageBufferOffsetAlignment) / 4);
}

/**
 * Cuts [0, n) into pieces that lie in one segment of every tensor in `ts` and hold at most `maxElements` each;
 * pieces that fall in an alignment gap of `ts[0]` (no memory) are dropped.
 *
 * @param ts Tensors indexed in lockstep (element i of each belongs together); all at least n long.
 * @param n Number of elements.
 * @param maxElements Largest piece.
 * @returns [start, count] pieces, relative to the tensors' starts.
 */
export function lockstepPieces(ts: readonly GpuTensor[], n: number, maxElements: number): [number, number][] {
  const cuts = new Set<number>([0, n]);
  for (const t of ts) {
    for (const s of t.arena.segments) {
      for (const edge of [s.start - t.offset, s.start + s.length - t.offset]) if (edge > 0 && edge < n) cuts.add(edge);
    }
  }
  const edges = [...cuts].sort((a, b) => a - b);
  const out: [number, number][] = [];
  for (let i = 0; i + 1 < edges.length; i++) {
    const lo = edges[i];
    const hi = edges[i + 1];
    if (!segmentOf(ts[0].arena, ts[0].offset + lo, ts[0].offset + hi)) continue; // a gap between tensors
    for (let s = lo; s < hi; s += maxElements) out.push([s, Math.min(maxElements, hi - s)]);
  }
  return out;
}

/**
 * The 32-bit words holding an f16 view (which starts at an even half: every planned tensor does), as a view of the
 * same buffers typed as words, for copies; its length covers an odd last half's word.
 *
 * @param t A view of an f16 arena.
 * @returns The view of its words.
 */
export function wordsOfHalves(t: GpuTensor): GpuTensor {
  if (t.offset % 2 !== 0) throw new RangeError(`an f16 view starting at half ${t.offset} splits a word`);
  const arena = t.arena;
  const words: GpuArena = {
    ...arena,
    dtype: "f32",
    length: Math.ceil(arena.length / 2),
    segments: arena.segments.map((s) => ({ buffer: s.buffer, start: s.start / 2, length: Math.ceil(s.length / 2) })),
  };
  return { arena: words, offset: t.offset / 2, length: Math.ceil(t.length / 2) };
}
