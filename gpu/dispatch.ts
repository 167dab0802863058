/**
 * Dispatch helpers shared by the GPU launchers in `layers/`: grid sizes within the per-dimension limit, ranges that
 * fit one storage binding, row ranges that also stay inside one GPU buffer of a tensor split over several
 * (`rowRanges`), the elementwise dispatcher, and the second stage of every chunked reduction.
 *
 * @module
 */
import { UserError } from "../util/errors.ts";
import sumPartialsSrc from "../kernels/sum_partials.wgsl" with { type: "text" };
import { type KernelDescriptor, wgslKernel } from "./kernel.ts";
import type { GpuRuntime } from "./runtime.ts";
import {
  bindRange,
  describe,
  formatBytes,
  type GpuBinding,
  type GpuTensor,
  lockstepPieces,
  maxBindingElements,
} from "./tensor.ts";

type F = GpuTensor;

/** out[i] += Σ partial rows (see `sumPartials`). */
export const sumPartialsKernel: KernelDescriptor = wgslKernel(sumPartialsSrc);

/** [start, count] ranges covering [0, n) in steps of `step`. */
export function ranges(n: number, step: number): [number, number][] {
  const out: [number, number][] = [];
  for (let s = 0; s < n; s += step) out.push([s, Math.min(step, n - s)]);
  return out;
}

/** How many units of `unit` elements fit one binding; throws naming the tensor when not even one does. */
export function perBinding(rt: GpuRuntime, unit: number, t: GpuTensor): number {
  const n = Math.floor(maxBindingElements(rt.limits) / unit);
  if (n < 1) {
    throw new UserError(`Tensor ${describe(t)}: one row of ${unit} elements is larger than this GPU's largest binding`);
  }
  return n;
}

/** A tensor read or written row by row: `[t, width]` (`width` elements per row), or `[t]` bound whole. */
export type RowBinding = readonly [F, number] | readonly [F];

/**
 * Cuts rows [0, n) into [start, count] ranges that a row kernel can bind: in each range, the rows of every
 * `[t, width]` tensor lie in one GPU buffer of its arena (a tensor larger than `maxBufferSize` is split into
 * buffers of whole leading slices, see `planSegments`) and fit one storage binding. `[t]` entries (bound whole)
 * are ignored, so a launcher passes this the same list as `bindRows`. With every tensor in one buffer this is
 * `ranges(n, perBinding(…))` over the widest row.
 *
 * @param rt The runtime (for the binding limit).
 * @param n Rows.
 * @param tensors The row tensors, e.g. `[[logits, Vp], [losses, 1]]`.
 * @param align Ranges cut by the binding limit hold a multiple of this many rows (where one binding holds that many):
 *   the matmul passes its 128-row tile, so that the logits of d12 at B=16, which one 2 GiB binding cuts at row 10672,
 *   are cut at 10624 and both products stay whole tiles (the kernel skips its bounds checks: the classifier forward
 *   ran at 42.1 TFLOP/s against 33.6 in the H200's step profile, stop 21).
 * @returns Ranges in order, covering [0, n).
 * @throws UserError naming a tensor whose one row does not fit a binding, or that a buffer boundary cuts inside a
 *   row.
 * @example
 * ```ts
 * import { rowRanges } from "./dispatch.ts";
 * import { GpuExecutor } from "./executor.ts";
 * import { getGpuDevice } from "./device.ts";
 * import { GpuRuntime } from "./runtime.ts";
 * import { planTensors } from "../model/tensors.ts";
 * const ctx = await getGpuDevice();
 * // Buffers of 400 floats: the (5, 2, 100) logits lie in buffers of 4 rows; a 2 KiB binding holds 4 or 5 rows.
 * const limits = { ...ctx.limits, maxBufferSize: 1600, maxStorageBufferBindingSize: 2048 };
 * const exec = new GpuExecutor(new GpuRuntime({ ...ctx, limits }));
 * const plan = planTensors([{ name: "logits", shape: [5, 2, 100], dtype: "f32" }], 64);
 * const logits = await exec.allocatePlan("acts", plan, "perTensor");
 * const got = rowRanges(exec.runtime, 10, [[logits, 100]]).join(" ");
 * if (got !== "0,4 4,4 8,2") throw new Error(`ranges ${got}`);
 * ```
 */
export function rowRanges(
  rt: GpuRuntime,
  n: number,
  tensors: readonly RowBinding[],
  align = 1,
): [number, number][] {
  let step = Infinity;
  const cuts = new Set<number>([0, n]);
  for (const [t, width] of tensors) {
    if (width === undefined) continue;
    step = Math.min(step, perBinding(rt, width, t));
    for (const s of t.arena.segments) {
      for (const edge of [s.start - t.offset, s.start + s.length - t.offset]) {
        if (edge <= 0 || edge >= n * width) continue;
        if (edge % width !== 0) {
          throw new UserError(
            `Tensor ${describe(t)}: a GPU buffer boundary falls inside one of its rows of ${
              formatBytes(width * 4)
            }; use a smaller batch (-b) or sequence (-t), or --device cpu`,
          );
        }
        cuts.add(edge / width);
      }
    }
  }
  if (step >= align) step -= step % align;
  const edges = [...cuts].sort((a, b) => a - b);
  const out: [number, number][] = [];
  for (let i = 0; i + 1 < edges.length; i++) {
    for (let s = edges[i]; s < edges[i + 1]; s += step) out.push([s, Math.min(step, edges[i + 1] - s)]);
  }
  return out;
}

/** Rows per chunk of a two-stage column sum: enough chunks to fill the GPU, at least 32 rows each. */
export function rowsPerChunk(rows: number): number {
  return Math.max(32, Math.ceil(rows / 64));
}

/**
 * Runs an elementwise kernel over n elements of `ts` (in binding order), piece by piece, a thread per
 * `kernel.perThread` elements; `whole` bindings follow them unchanged in every piece (e.g. a scalar the kernel reads).
 */
export function dispatchElementwise(
  rt: GpuRuntime,
  kernel: KernelDescriptor,
  ts: readonly F[],
  n: number,
  params: Readonly<Record<string, number>> = {},
  whole: readonly GpuBinding[] = [],
): void {
  for (const t of ts) if (t.length < n) throw new RangeError(`${kernel.name}: a tensor holds ${t.length} < ${n}`);
  for (const [start, count] of lockstepPieces(ts, n, maxBindingElements(rt.limits))) {
    rt.dispatch({
      kernel,
      bindings: [...ts.map((t) => bindRange(t, start, count, rt.limits)), ...whole],
      params: { ...params, n: count },
      groups: [grid1d(rt, Math.ceil(count / kernel.perThread))],
    });
  }
}

/**
 * out[i] += Σ_{s < count} partial[partialStart + s·stride + i] for i < n (chunked reductions' second stage).
 *
 * @param rt The runtime.
 * @param o Where and what to add.
 */
export function sumPartials(
  rt: GpuRuntime,
  o: {
    out: GpuTensor;
    outStart: number;
    partial: GpuTensor;
    partialStart: number;
    n: number;
    count: number;
    stride: number;
    /** Write the sums instead of adding them to out. */
    write?: boolean;
  },
): void {
  rt.dispatch({
    kernel: sumPartialsKernel,
    bindings: [
      bindRange(o.out, o.outStart, o.n, rt.limits),
      bindRange(o.partial, o.partialStart, (o.count - 1) * o.stride + o.n, rt.limits),
    ],
    params: { n: o.n, count: o.count, stride: o.stride, accumulate: o.write ? 0 : 1 },
    groups: [grid1d(rt, o.n)],
  });
}

/**
 * Workgroups for a 1-D grid-stride kernel over n elements.
 *
 * @param rt The runtime (for the per-dimension limit).
 * @param n Elements.
 * @param wg Threads per workgroup.
 * @returns x.
 */
export function grid1d(rt: GpuRuntime, n: number, wg = 256): number {
  return Math.max(1, Math.min(Math.ceil(n / wg), rt.limits.maxComputeWorkgroupsPerDimension));
}

/**
 * A 2-D grid with at least `n` workgroups (for one-workgroup-per-row kernels: row = x + y·gridX).
 *
 * @param rt The runtime.
 * @param n Rows.
 * @returns [x, y].
 */
export function gridRows(rt: GpuRuntime, n: number): [number, number] {
  const max = rt.limits.maxComputeWorkgroupsPerDimension;
  if (n <= max) return [n, 1];
  const y = Math.ceil(n / max);
  return [Math.ceil(n / y), y];
}

/**
 * The bindings of one dispatch of a row kernel over rows [start, start + count): `[t, width]` binds `width`
 * elements per row of that range of `t`, `[t]` binds all of `t` (a layernorm's weight, the same for every row).
 *
 * @param rt The runtime (for the binding limits).
 * @param range [start, count] rows, e.g. from `rowRanges(rt, N, tensors)`.
 * @param tensors Each binding, in the kernel's storage order.
 * @returns The bound ranges.
 */
export function bindRows(
  rt: GpuRuntime,
  range: readonly [number, number],
  tensors: readonly RowBinding[],
): GpuBinding[] {
  const [start, count] = range;
  return tensors.map(([t, width]) =>
    width === undefined ? bindRange(t, 0, t.length, rt.limits) : bindRange(t, start * width, count * width, rt.limits)
  );
}
