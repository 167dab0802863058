/**
 * The op record: one computation (a layer's forward or backward) with everything about it in one place. Its buffers
 * are named once, in `buffers`, and that one declaration types every form:
 *
 * - `cpu`: the scalar TypeScript reference, the definition the other forms are tested against;
 * - `wasm` (optional): the multicore WebAssembly SIMD fast path of the CPU backend;
 * - `gpu`: the launcher that records the WGSL dispatches (kernels in `kernels/*.wgsl`);
 * - `work`: FLOPs and bytes of one call, for the GPU profiler's rate column.
 *
 * A backend runs any op through one method, `Executor.run(op, buffers, sizes)`; nothing else knows the op exists.
 *
 * @module
 */
import type { CpuKernels } from "../cpu/kernels.ts";
import type { GpuLaunch } from "../gpu/executor.ts";
import type { Work } from "../gpu/profiler.ts";
import type { GpuTensor } from "../gpu/tensor.ts";

/**
 * What one buffer of an op holds: float32, int32 (tokens), or floats stored as halves ("f16": an f16 `GpuTensor` on
 * the GPU; on the CPU a Float32Array holding half-rounded values, so the CPU twin computes with the values the GPU
 * stores); "f32?" and "f16?" are optional buffers.
 */
export type BufferKind = "f32" | "f32?" | "i32" | "f16" | "f16?";

/** The buffers of an op by name. */
export type BufferSpec = Readonly<Record<string, BufferKind>>;

/** The buffer object an op takes on a backend whose float tensors are `F` and int tensors `I`. */
export type Buffers<S extends BufferSpec, F, I> =
  & { -readonly [K in keyof S as S[K] extends "f32?" | "f16?" ? never : K]: S[K] extends "i32" ? I : F }
  & { -readonly [K in keyof S as S[K] extends "f32?" | "f16?" ? K : never]?: F };

/** Buffers on the CPU: views of the one shared WebAssembly memory. */
export type CpuBuffers<S extends BufferSpec> = Buffers<S, Float32Array, Int32Array>;
/** Buffers on the GPU: views of GPU arenas. */
export type GpuBuffers<S extends BufferSpec> = Buffers<S, GpuTensor, GpuTensor>;

/** One computation in all its forms (see the module doc). `Z` holds its sizes and scalars. */
export interface Op<S extends BufferSpec, Z> {
  /** camelCase name, e.g. "layernormForward"; the profile row unless `label` says more. */
  readonly name: string;
  /** The buffers, each with its kind. */
  readonly buffers: S;
  /** The scalar reference. */
  cpu(b: CpuBuffers<S>, s: Z): void;
  /** The WebAssembly SIMD form, where there is one (same results up to float rounding). */
  wasm?(k: CpuKernels, b: CpuBuffers<S>, s: Z): void;
  /** Records the GPU dispatches. */
  gpu(g: GpuLaunch, b: GpuBuffers<S>, s: Z): void;
  /** FLOPs and bytes moved by one call. */
  work(s: Z): Work;
  /** The profile row of a call when it depends on the sizes (e.g. "matmulForward 1024x768x2304"). */
  label?(s: Z): string;
}

/**
 * Declares an op; the `const` type parameter keeps each buffer's kind, so a misspelt or missing buffer fails type
 * checking wherever the op is run.
 *
 * @param op The record.
 * @returns The same record, typed.
 * @example
 * ```ts
 * import { defineOp } from "./_op.ts";
 * const double = defineOp({
 *   name: "double",
 *   buffers: { out: "f32", inp: "f32" },
 *   cpu: (b, s: { n: number }) => { for (let i = 0; i < s.n; i++) b.out[i] = 2 * b.inp[i]; },
 *   gpu: () => { throw new Error("not on the GPU"); },
 *   work: (s) => ({ bytes: 8 * s.n }),
 * });
 * const out = new Float32Array(2);
 * double.cpu({ out, inp: new Float32Array([1, 2]) }, { n: 2 });
 * if (out[1] !== 4) throw new Error("2 · 2 = 4");
 * ```
 */
export function defineOp<const S extends BufferSpec, Z>(op: Op<S, Z>): Op<S, Z> {
  return op;
}

/** Any op, for code that handles ops generically (executors, the profiler, tests). */
// deno-lint-ignore no-explicit-any
export type AnyOp = Op<BufferSpec, any>;
