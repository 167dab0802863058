/**
 * The WebGPU backend: `Ops` over GPU tensors, every op a WGSL kernel (`kernels/`), launched through the runtime's
 * deferred queue (`runtime.ts`): ops record dispatches, and a whole training step goes to the GPU as one compute
 * pass when the loss is read. Pipelines and bind groups are made the first time a shape is seen and reused.
 *
 * @module
 */
import type { AdamWHyper, Ops } from "../model/ops.ts";
import type { TensorPlan } from "../model/tensors.ts";
import type { GemmOptions, SplitKOptions } from "./_gemm.ts";
import { attentionBackward, attentionForward, matmulBackward, matmulForward } from "./_ops_dense.ts";
import { attentionDecode } from "./_ops_decode.ts";
import * as elementwise from "./_ops_elementwise.ts";
import * as rows from "./_ops_rows.ts";
import { getGpuDevice } from "./device.ts";
import type { ProfileRow, Work } from "./profiler.ts";
import { GpuRuntime } from "./runtime.ts";
import { describe, type GpuTensor, planSegments, type SegmentMode, viewOf } from "./tensor.ts";

type F = GpuTensor;

/** Tuning of the GPU backend (defaults suit large GPUs; tests shrink them to exercise every path). */
export interface GpuOpsOptions {
  /** Split-K policy of the weight-gradient matmuls. */
  splitK?: Partial<SplitKOptions>;
  /** Matmul K-tile depth; default 16, or 8 on software adapters (llvmpipe compiles BK = 16 ~4x slower). */
  matmulBK?: 8 | 16;
  /** Products with at most this many outputs use the one-thread-per-output kernel; default 16384 (one tile), 0: never. */
  smallMatmulMaxOutputs?: number;
}

/**
 * Creates the GPU backend on the process's WebGPU device.
 *
 * @param options Tuning.
 * @returns The backend.
 * @throws UserError "No WebGPU adapter found; use --device cpu" when there is no adapter.
 * @example
 * ```ts
 * import { createGpuOps } from "./backend.ts";
 * const ops = await createGpuOps();
 * const [a, b, sum] = [await ops.allocate("a", 3), await ops.allocate("b", 3), await ops.allocate("sum", 3)];
 * ops.write(a, new Float32Array([1, 2, 3]));
 * ops.write(b, new Float32Array([10, 20, 30]));
 * ops.residualForward({ out: sum, inp1: a, inp2: b }, { N: 3 });
 * if ((await ops.read(sum))[2] !== 33) throw new Error("3 + 30 = 33");
 * ```
 */
export async function createGpuOps(options: GpuOpsOptions = {}): Promise<GpuOps> {
  return new GpuOps(new GpuRuntime(await getGpuDevice()), options);
}

/** `Ops` on WebGPU. Float and int tensors are both `GpuTensor` views of GPU arenas. */
export class GpuOps implements Ops<F, F> {
  /** The runtime (device, caches, queue). */
  readonly runtime: GpuRuntime;
  readonly #gemm: GemmOptions;
  readonly #tables: rows.BucketTables;
  #norm?: F;

  /**
   * @param runtime The runtime to record into.
   * @param options Tuning.
   */
  constructor(runtime: GpuRuntime, options: GpuOpsOptions = {}) {
    this.runtime = runtime;
    this.#gemm = {
      bk: options.matmulBK ?? (runtime.ctx.isFallback ? 8 : 16),
      splitK: { targetWorkgroups: 256, minChunk: 512, ...options.splitK },
      smallMaxOutputs: options.smallMatmulMaxOutputs ?? 16384,
    };
    this.#tables = new rows.BucketTables(runtime);
  }

  /** One line naming the GPU. */
  get description(): string {
    return this.runtime.ctx.description;
  }

  /**
   * A zero-filled tensor of its own (one GPUBuffer).
   *
   * @param name For messages.
   * @param length Elements.
   * @param dtype f32 (default) or i32 (tokens).
   */
  async allocate(name: string, length: number, dtype: "f32" | "i32" = "f32"): Promise<F> {
    const arena = await this.runtime.allocate(name, dtype, length);
    return { arena, offset: 0, length };
  }

  /**
   * A zero-filled arena laid out by a tensor plan: one GPUBuffer per planned tensor ("perTensor", for activations,
   * so one op can read one activation and write another), or packed into as few buffers as fit ("packed", for
   * parameters, gradients and AdamW state, so whole-arena ops take few dispatches).
   *
   * @param name Role name for messages ("params", "acts" …).
   * @param plan The tensor plan (offsets aligned to 64 elements).
   * @param mode How tensors map to buffers.
   * @returns A view of the whole arena; cut tensors from it with `view`.
   */
  async allocatePlan(name: string, plan: TensorPlan, mode: SegmentMode): Promise<F> {
    const maxElements = Math.floor(this.runtime.limits.maxBufferSize / 4);
    const segments = planSegments(name, plan, mode, maxElements);
    const arena = await this.runtime.allocate(name, "f32", plan.totalElements, segments, plan.slots);
    return { arena, offset: 0, length: plan.totalElements };
  }

  /** Submits every recorded dispatch now (reads and writes do this themselves). */
  flush(): void {
    this.runtime.flush();
  }

  /** Starts per-op timing (each op call then runs in its own timestamped pass). Needs `timestamp-query`. */
  startProfile(): void {
    this.runtime.startProfile();
  }

  /** Ends timing and returns one row per op label (see `formatProfile`). */
  stopProfile(): Promise<ProfileRow[]> {
    return this.runtime.stopProfile();
  }

  view(t: F, offset: number, length: number): F {
    return viewOf(t, offset, length);
  }

  zero(t: F): void {
    this.#group("zero", { bytes: 4 * t.length }, () => elementwise.zero(this.runtime, t));
  }

  encoderForward(b: { out: F; inp: F; wte: F; wpe: F }, s: { B: number; T: number; C: number }): void {
    const bytes = 4 * 3 * s.B * s.T * s.C;
    this.#group("encoderForward", { bytes }, () => rows.encoderForward(this.runtime, b, s));
  }

  encoderBackward(b: { dwte: F; dwpe: F; dout: F; inp: F }, s: { B: number; T: number; C: number }): void {
    const bytes = 4 * 4 * s.B * s.T * s.C;
    this.#group("encoderBackward", { bytes }, () => rows.encoderBackward(this.runtime, this.#tables, b, s));
  }

  layernormForward(b: { out: F; mean: F; rstd: F; inp: F; weight: F; bias: F }, s: { N: number; C: number }): void {
    this.#group("layernormForward", { bytes: 4 * 3 * s.N * s.C }, () => rows.layernormForward(this.runtime, b, s));
  }

  layernormBackward(
    b: { dinp: F; dweight: F; dbias: F; dout: F; inp: F; weight: F; mean: F; rstd: F },
    s: { N: number; C: number },
  ): void {
    this.#group("layernormBackward", { bytes: 4 * 7 * s.N * s.C }, () => rows.layernormBackward(this.runtime, b, s));
  }

  matmulForward(b: { out: F; inp: F; weight: F; bias?: F }, s: { N: number; C: number; OC: number }): void {
    const work = { flops: 2 * s.N * s.C * s.OC };
    this.#group(`matmulForward ${s.N}x${s.C}x${s.OC}`, work, () => matmulForward(this.runtime, b, s, this.#gemm));
  }

  matmulBackward(
    b: { dinp: F; dweight: F; dbias?: F; dout: F; inp: F; weight: F },
    s: { N: number; C: number; OC: number },
  ): void {
    const work = { flops: 4 * s.N * s.C * s.OC };
    this.#group(`matmulBackward ${s.N}x${s.C}x${s.OC}`, work, () => matmulBackward(this.runtime, b, s, this.#gemm));
  }

  attentionForward(b: { out: F; preatt: F; att: F; inp: F }, s: { B: number; T: number; C: number; NH: number }): void {
    const work = { flops: 2 * s.B * s.T * s.T * s.C }; // two causal (T×T×hs) products per head, half of each done
    this.#group("attentionForward", work, () => attentionForward(this.runtime, b, s, this.#gemm));
  }

  attentionDecode(b: { out: F; inp: F }, s: { pos: number; C: number; NH: number }): void {
    const work = { flops: 4 * (s.pos + 1) * s.C }; // q·k and w·v over pos+1 rows
    this.#group("attentionDecode", work, () => attentionDecode(this.runtime, b, s));
  }

  attentionBackward(
    b: { dinp: F; dpreatt: F; datt: F; dout: F; inp: F; att: F },
    s: { B: number; T: number; C: number; NH: number },
  ): void {
    const work = { flops: 4 * s.B * s.T * s.T * s.C };
    this.#group("attentionBackward", work, () => attentionBackward(this.runtime, b, s, this.#gemm));
  }

  geluForward(b: { out: F; inp: F }, s: { N: number }): void {
    this.#group("geluForward", { bytes: 8 * s.N }, () => elementwise.geluForward(this.runtime, b, s));
  }

  geluBackward(b: { dinp: F; inp: F; dout: F }, s: { N: number }): void {
    this.#group("geluBackward", { bytes: 12 * s.N }, () => elementwise.geluBackward(this.runtime, b, s));
  }

  residualForward(b: { out: F; inp1: F; inp2: F }, s: { N: number }): void {
    this.#group("residualForward", { bytes: 12 * s.N }, () => elementwise.residualForward(this.runtime, b, s));
  }

  softmaxCrossEntropyForward(
    b: { losses: F; probs: F; logits: F; targets: F },
    s: { N: number; V: number; Vp: number },
  ): void {
    const work = { bytes: 4 * 3 * s.N * s.Vp };
    this.#group("softmaxCrossEntropyForward", work, () => rows.softmaxCrossEntropyForward(this.runtime, b, s));
  }

  softmaxCrossEntropyBackward(
    b: { dlogits: F; probs: F; targets: F },
    s: { N: number; V: number; Vp: number; dloss: number },
  ): void {
    const work = { bytes: 4 * 2 * s.N * s.Vp };
    this.#group("softmaxCrossEntropyBackward", work, () => rows.softmaxCrossEntropyBackward(this.runtime, b, s));
  }

  adamwUpdate(b: { params: F; grads: F; m: F; v: F }, s: { n: number }, hyper: AdamWHyper): void {
    this.#group("adamwUpdate", { bytes: 4 * 7 * s.n }, () => elementwise.adamwUpdate(this.runtime, b, s, hyper));
  }

  gradNormSquared(b: { grads: F }, s: { n: number }): void {
    this.#norm ??= { arena: this.runtime.createArena("grad norm", "f32", 1), offset: 0, length: 1 };
    const norm = this.#norm;
    this.#group("gradNormSquared", { bytes: 4 * s.n }, () => elementwise.gradNormSquared(this.runtime, norm, b, s));
  }

  async readGradNormSquared(): Promise<number> {
    if (!this.#norm) throw new Error("readGradNormSquared before gradNormSquared");
    return (await this.runtime.read(this.#norm))[0];
  }

  read(t: F): Promise<Float32Array> {
    if (t.arena.dtype !== "f32") throw new TypeError(`read: ${describe(t)} is not a float tensor`);
    return this.runtime.read(t);
  }

  write(t: F, data: Float32Array): void {
    if (t.arena.dtype !== "f32") throw new TypeError(`write: ${describe(t)} is not a float tensor`);
    this.runtime.write(t, data);
  }

  writeInt(t: F, data: Int32Array): void {
    if (t.arena.dtype !== "i32") throw new TypeError(`writeInt: ${describe(t)} is not an int tensor`);
    this.runtime.write(t, data);
    const arena = t.arena;
    arena.host ??= new Int32Array(arena.length);
    arena.host.set(data, t.offset);
    this.#tables.refresh(arena);
  }

  #group(label: string, work: Work, body: () => void): void {
    this.runtime.group(label, work, body);
  }
}
