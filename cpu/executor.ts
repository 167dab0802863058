/**
 * The CPU executor: tensors are Float32Array / Int32Array views of one shared WebAssembly memory. An op runs its
 * WebAssembly SIMD form on the multicore `CpuKernels` when the executor has kernels and the op has that form, and
 * its scalar TypeScript reference otherwise.
 *
 * @module
 */
import type { Buffers, BufferSpec, Op } from "../layers/_op.ts";
import type { Executor } from "../model/executor.ts";
import type { CpuKernels } from "./kernels.ts";

/**
 * `Executor` on the CPU; `view` is `subarray`.
 *
 * @example
 * ```ts
 * import { CpuExecutor } from "./executor.ts";
 * import { residual } from "../layers/residual.ts";
 * const exec = new CpuExecutor();
 * const out = new Float32Array(2);
 * exec.run(residual.forward, { out, inp1: new Float32Array([1, 2]), inp2: new Float32Array([3, 4]) }, { N: 2 });
 * if ((await exec.read(out))[1] !== 6) throw new Error("2 + 4 = 6");
 * ```
 */
export class CpuExecutor implements Executor<Float32Array, Int32Array> {
  /** The WebAssembly kernels, when the ops run on them. */
  readonly kernels?: CpuKernels;

  /**
   * @param kernels Optional WebAssembly SIMD kernels over the memory every tensor lives in; without them every op
   *   runs its scalar reference.
   */
  constructor(kernels?: CpuKernels) {
    this.kernels = kernels;
  }

  /** "cpu (2 threads, WebAssembly SIMD)" or "cpu (scalar reference)". */
  get description(): string {
    return this.kernels ? `cpu (${this.kernels.threads} threads, WebAssembly SIMD)` : "cpu (scalar reference)";
  }

  run<S extends BufferSpec, Z>(op: Op<S, Z>, buffers: Buffers<S, Float32Array, Int32Array>, sizes: Z): void {
    if (this.kernels && op.wasm) op.wasm(this.kernels, buffers, sizes);
    else op.cpu(buffers, sizes);
  }

  view(t: Float32Array, offset: number, length: number): Float32Array {
    if (offset < 0 || offset + length > t.length) {
      throw new RangeError(`view [${offset}, ${offset + length}) is outside a tensor of ${t.length} elements`);
    }
    return t.subarray(offset, offset + length);
  }

  viewInt(t: Int32Array, offset: number, length: number): Int32Array {
    if (offset < 0 || offset + length > t.length) {
      throw new RangeError(`view [${offset}, ${offset + length}) is outside a tensor of ${t.length} elements`);
    }
    return t.subarray(offset, offset + length);
  }

  read(t: Float32Array): Promise<Float32Array> {
    return Promise.resolve(t.slice());
  }

  write(t: Float32Array, data: Float32Array): void {
    if (data.length !== t.length) throw new RangeError(`write of ${data.length} elements into ${t.length}`);
    t.set(data);
  }

  writeInt(t: Int32Array, data: Int32Array): void {
    if (data.length !== t.length) throw new RangeError(`writeInt of ${data.length} elements into ${t.length}`);
    t.set(data);
  }
}
