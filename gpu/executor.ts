/**
 * The WebGPU executor: runs op records (`layers/*.ts`) by calling their `gpu` launchers, which record WGSL
 * dispatches into the runtime's deferred queue (`runtime.ts`); a whole training step goes to the GPU as one compute
 * pass when the loss is read. Pipelines and bind groups are made the first time a shape is seen and reused.
 *
 * @module
 */
import type { Buffers, BufferSpec, Op } from "../layers/_op.ts";
import type { Executor, Profiler } from "../model/executor.ts";
import type { TensorPlan } from "../model/tensors.ts";
import { type F16Math, GEMM_ROWS_MAX, type GemmOptions, type SplitKOptions } from "./_gemm.ts";
import { measureWaveSlots } from "./wave_slots.ts";
import { BucketTables } from "../layers/encoder.ts";
import { getGpuDevice } from "./device.ts";
import { UserError } from "../util/errors.ts";
import { GpuRuntime } from "./runtime.ts";
import { describe, ELEMENT_BYTES, type GpuTensor, planSegments, type SegmentMode, viewOf } from "./tensor.ts";

type F = GpuTensor;

/** What a launcher gets besides its buffers: the runtime, the matmul tuning and the encoder's token tables. */
export interface GpuLaunch {
  readonly rt: GpuRuntime;
  readonly gemm: GemmOptions;
  readonly tables: BucketTables;
  /** When and how `attention.decode` splits a long prefix over workgroups (see `GpuExecutorOptions`). */
  readonly decodeSplit: DecodeSplit;
  /** Threads per row of the materialized attention's softmax kernels (see `GpuExecutorOptions`). */
  readonly softmaxLanes: number;
}

/** Tuning of the GPU backend (defaults suit large GPUs; tests shrink them to exercise every path). */
export interface GpuExecutorOptions {
  /**
   * Split-K policy of the weight-gradient matmuls. Unless `waveSlots` is given, `createGpuExecutor` measures it
   * (`measureWaveSlots`; 0 on CPU adapters), and where it is known the default target is 2048 workgroups, not 1024.
   */
  splitK?: Partial<SplitKOptions>;
  /** Matmul K-tile depth; default 16, or 8 on software adapters (llvmpipe compiles BK = 16 ~4x slower). */
  matmulBK?: 8 | 16;
  /** Matmul K-tile depth where B is column-contiguous (`GemmOptions.bkNContigB`); default 8. */
  matmulBKNContigB?: 8 | 16;
  /**
   * Whether those matmuls stage two K tiles by turns (`GemmOptions.doubleBufferNContigB`); default true, false on
   * software adapters (llvmpipe compiles a kernel with twice the workgroup memory ~4x slower).
   */
  matmulDoubleBufferNContigB?: boolean;
  /** Whether the matmuls with a masked A run their longest row tiles first (`GemmOptions.heavyFirst`; default true). */
  matmulHeavyFirst?: boolean;
  /** Products with at most this many outputs use the one-thread-per-output kernel; default 16384 (one tile), 0: never. */
  smallMatmulMaxOutputs?: number;
  /**
   * Products with at most this many rows, both operands contiguous along K, use `matmul_rows` (decoding); default 8,
   * or 0 (never) on software adapters, where its workgroup barriers make it ~10x slower than `matmul_small`.
   */
  rowsMatmulMaxRows?: number;
  /** Whether whole-tile products skip the matmul kernel's bounds checks (default true; false for comparisons). */
  matmulExact?: boolean;
  /**
   * Whether whole-tile matmuls read row- or column-contiguous operands a vec4 a load (`GemmOptions.vec4Loads`;
   * default true: on the H200 the weight gradients ran 1.8-4.1 TFLOP/s faster, the input gradients up to 1.6).
   */
  matmulVec4Loads?: boolean;
  /**
   * Whether, with them, a k-contiguous A is read a vec4 along k too (`GemmOptions.vec4AlongK`; default false: not yet
   * faster on the H200, see BENCHMARKS.md stop 30).
   */
  matmulVec4AlongK?: boolean;
  /** Whether the matmul kernel pipelines its register fragments (default false; see dev/bench_matmul.ts). */
  matmulPipelineFragments?: boolean;
  /**
   * Whether the matmul kernel stages two K tiles by turns, one barrier per K step (default false: on the H200 it
   * gained 0.4-1.4 TFLOP/s while the tiles were indexed flat, and loses 3-5 since they are indexed [k][column], which
   * made the single-tile kernel 3-4 TFLOP/s faster; see BENCHMARKS.md, stop 21).
   */
  matmulDoubleBuffer?: boolean;
  /**
   * Whether a matmul thread's output columns are 16 apart, so each store of a warp writes whole sectors
   * (`GemmOptions.spreadColumns`; default true).
   */
  matmulSpreadColumns?: boolean;
  /** Whether a matmul thread's output rows are 16 apart (`GemmOptions.spreadRows`; default true). */
  matmulSpreadRows?: boolean;
  /**
   * Which tiled matmul products compute in native f16 (`GemmOptions.f16Math`; default "none"): "weights" or "all"
   * need a device with `shader-f16` and are refused without one.
   */
  matmulF16Math?: F16Math;
  /** K steps (of 16 products) per f16 run before it is added into float32 (default 1; `F16_RUN`). */
  matmulF16Run?: number;
  /**
   * Whether f16 matmul arithmetic rounds its staged operands to the nearest half with integer operations (default
   * false: by the GPU's conversion, whose rounding WGSL leaves to the implementation).
   */
  matmulF16StageNearest?: boolean;
  /** Whether f16 matmul arithmetic takes 128×64 output tiles (fewer registers a thread; default false: 128×128). */
  matmulF16NarrowTiles?: boolean;
  /**
   * Decoding: a query row's prefix longer than `above` positions is split into chunks of `chunk` positions, a
   * workgroup each per head, whose partial softmax sums a second kernel combines (default above 512, chunks of 128:
   * prefixes up to 512, where decoding was measured, keep one workgroup per head; `above: Infinity` never splits).
   */
  attentionDecodeSplit?: DecodeSplit;
  /**
   * Threads per row of the materialized attention's softmax kernels, a power of two from 1 to 256 (`RW` in
   * kernels/_reduce_lanes.wgsl: 256 / RW rows per workgroup). Default 64, the fastest of 8-256 on the H200 at d12's
   * shape (`dev/bench_attention.ts --softmax-lanes`: forward 0.451 ms, backward 0.488, against 0.467 and 0.611 at
   * 32, and 0.53 and 0.47 for the earlier kernels' one row of 128 threads a workgroup).
   */
  attentionSoftmaxLanes?: number;
}

/** When (`above` positions) and how finely (`chunk` positions a workgroup) decoding splits a long prefix. */
export interface DecodeSplit {
  above: number;
  chunk: number;
}

/**
 * Creates the GPU executor on the process's WebGPU device.
 *
 * @param options Tuning.
 * @returns The executor.
 * @throws UserError "No WebGPU adapter found; use --device cpu" when there is no adapter.
 * @example
 * ```ts
 * import { createGpuExecutor } from "./executor.ts";
 * import { residual } from "../layers/residual.ts";
 * const exec = await createGpuExecutor();
 * const [a, b, sum] = [await exec.allocate("a", 3), await exec.allocate("b", 3), await exec.allocate("sum", 3)];
 * exec.write(a, new Float32Array([1, 2, 3]));
 * exec.write(b, new Float32Array([10, 20, 30]));
 * exec.run(residual.forward, { out: sum, inp1: a, inp2: b }, { N: 3 });
 * if ((await exec.read(sum))[2] !== 33) throw new Error("3 + 30 = 33");
 * ```
 */
export async function createGpuExecutor(options: GpuExecutorOptions = {}): Promise<GpuExecutor> {
  const runtime = new GpuRuntime(await getGpuDevice());
  if (options.splitK?.waveSlots !== undefined) return new GpuExecutor(runtime, options);
  // The split-K of the weight gradients against the GPU's measured workgroup slots (once per device).
  const waveSlots = await measureWaveSlots(runtime, new GpuExecutor(runtime, options).launch.gemm);
  const targetWorkgroups = options.splitK?.targetWorkgroups ?? (waveSlots > 0 ? 2048 : 1024);
  return new GpuExecutor(runtime, { ...options, splitK: { ...options.splitK, waveSlots, targetWorkgroups } });
}

/** `Executor` on WebGPU. Float and int tensors are both `GpuTensor` views of GPU arenas. */
export class GpuExecutor implements Executor<F, F> {
  /** The runtime (device, caches, queue). */
  readonly runtime: GpuRuntime;
  /** What the launchers get. */
  readonly launch: GpuLaunch;
  /** Per-op timing, where the adapter has `timestamp-query`. */
  readonly profiler?: Profiler;

  /**
   * @param runtime The runtime to record into.
   * @param options Tuning.
   */
  constructor(runtime: GpuRuntime, options: GpuExecutorOptions = {}) {
    this.runtime = runtime;
    const bk = options.matmulBK ?? (runtime.ctx.isFallback ? 8 : 16);
    const gemm: GemmOptions = {
      bk,
      bkNContigB: options.matmulBKNContigB ?? 8,
      doubleBufferNContigB: options.matmulDoubleBufferNContigB ?? !runtime.ctx.isFallback,
      heavyFirst: options.matmulHeavyFirst ?? true,
      splitK: { targetWorkgroups: 1024, minChunk: 512, waveSlots: 0, sliceOverheadK: 128, ...options.splitK },
      smallMaxOutputs: options.smallMatmulMaxOutputs ?? 16384,
      rowsMaxRows: options.rowsMatmulMaxRows ?? (runtime.ctx.isFallback ? 0 : GEMM_ROWS_MAX),
      exact: options.matmulExact ?? true,
      pipelineFragments: options.matmulPipelineFragments ?? false,
      vec4Loads: options.matmulVec4Loads ?? true,
      vec4AlongK: options.matmulVec4AlongK ?? false,
      doubleBuffer: options.matmulDoubleBuffer ?? false,
      spreadColumns: options.matmulSpreadColumns ?? true,
      spreadRows: options.matmulSpreadRows ?? true,
      f16Math: options.matmulF16Math ?? "none",
      f16Run: options.matmulF16Run ?? 1,
      f16StageNearest: options.matmulF16StageNearest ?? false,
      f16NarrowTiles: options.matmulF16NarrowTiles ?? false,
    };
    if (gemm.f16Math !== "none" && !runtime.ctx.hasF16) {
      throw new UserError(
        `f16 matmul arithmetic (${gemm.f16Math}) needs a GPU with shader-f16, which ${runtime.ctx.description} lacks`,
      );
    }
    this.launch = {
      rt: runtime,
      gemm,
      tables: new BucketTables(runtime),
      decodeSplit: options.attentionDecodeSplit ?? { above: 512, chunk: 128 },
      softmaxLanes: options.attentionSoftmaxLanes ?? 64,
    };
    if (runtime.ctx.hasTimestamps) {
      this.profiler = { start: (options) => runtime.startProfile(options), stop: () => runtime.stopProfile() };
    }
  }

  /** One line naming the GPU. */
  get description(): string {
    return `gpu (${this.runtime.ctx.description}, WebGPU)`;
  }

  run<S extends BufferSpec, Z>(op: Op<S, Z>, buffers: Buffers<S, F, F>, sizes: Z): void {
    this.runtime.group(op.label?.(sizes) ?? op.name, op.work(sizes), () => op.gpu(this.launch, buffers, sizes));
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
   * @param dtype "f32", or "f16" for halves packed two to a word (the plan's offsets then count halves).
   * @returns A view of the whole arena; cut tensors from it with `view`.
   */
  async allocatePlan(name: string, plan: TensorPlan, mode: SegmentMode, dtype: "f32" | "f16" = "f32"): Promise<F> {
    const maxElements = Math.floor(this.runtime.limits.maxBufferSize / ELEMENT_BYTES[dtype]);
    const segments = planSegments(name, plan, mode, maxElements);
    const arena = await this.runtime.allocate(name, dtype, plan.totalElements, segments, plan.slots);
    return { arena, offset: 0, length: plan.totalElements };
  }

  /** Submits every recorded dispatch now (reads and writes do this themselves). */
  flush(): void {
    this.runtime.flush();
  }

  view(t: F, offset: number, length: number): F {
    return viewOf(t, offset, length);
  }

  viewInt(t: F, offset: number, length: number): F {
    return viewOf(t, offset, length);
  }

  read(t: F): Promise<Float32Array> {
    if (t.arena.dtype === "i32") throw new TypeError(`read: ${describe(t)} is not a float tensor`);
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
    this.launch.tables.refresh(arena); // the encoder backward's token buckets follow the tokens
  }
}
