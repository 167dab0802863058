/**
 * The backend switch: an `Executor` runs any op record (`layers/_op.ts`) on its tensors, and moves data between
 * them and the host. The CPU executor (`cpu/executor.ts`) runs an op's WebAssembly form when it has one and its
 * scalar reference otherwise; the GPU executor (`gpu/executor.ts`) records the op's dispatches. Model code is
 * written once against this interface and never asks which backend it runs on; what only some backends can do is
 * a capability (`profiler`), not a type test.
 *
 * Conventions of every op (llm.c's): outputs first, `d` prefix for gradients, what backward needs (mean, rstd)
 * saved by forward. Parameter gradients ACCUMULATE (`+=`, so gradient accumulation over micro-batches works);
 * activation gradients are WRITTEN (`=`), except on the residual stream, which layernorm backward ADDS to.
 *
 * @module
 */
import type { Buffers, BufferSpec, Op } from "../layers/_op.ts";
import type { ProfileRow } from "../gpu/profiler.ts";

/** Per-op GPU timing (WebGPU timestamp queries). */
export interface Profiler {
  /**
   * Starts timing: each op call then runs in its own timestamped pass, or with `{ wholePasses: true }` every
   * submission stays one pass, timed as a whole (one row, "whole passes": what the GPU takes for the work, gaps
   * between dispatches included, which per-op passes hide).
   */
  start(options?: { wholePasses?: boolean }): void;
  /** Ends timing and returns one row per op label (see `formatProfile`). */
  stop(): Promise<ProfileRow[]>;
}

/** A backend whose float tensors are `F` and int tensors `I`. */
export interface Executor<F, I> {
  /** One line naming the device, e.g. "cpu (2 threads, WebAssembly SIMD)". */
  readonly description: string;
  /** Present where the backend can time each op. */
  readonly profiler?: Profiler;
  /** Runs `op` on `buffers` with sizes `sizes`. */
  run<S extends BufferSpec, Z>(op: Op<S, Z>, buffers: Buffers<S, F, I>, sizes: Z): void;
  /** A view of `length` elements of `t` starting at element `offset` (per-layer slices of (L, …) tensors). */
  view(t: F, offset: number, length: number): F;
  /** The same for an int tensor (a range of positions of the tokens). */
  viewInt(t: I, offset: number, length: number): I;
  /**
   * Hands the work recorded so far to the device now, where the backend queues it (the GPU starts on it while the
   * host records more); absent where ops run as they are called.
   */
  flush?(): void;
  /** Copies a tensor back to the host (the loss, logits, checkpoints). */
  read(t: F): Promise<Float32Array>;
  /** Copies host data into a tensor of the same length. */
  write(t: F, data: Float32Array): void;
  /** Copies host tokens into an int tensor of the same length. */
  writeInt(t: I, data: Int32Array): void;
}
