/**
 * Builds a GPT-2 on the WebGPU backend: plans every arena with 256-byte (64-element) alignment, allocates one
 * GPU arena per role (parameters, gradients and AdamW m, v packed; activations and activation gradients one buffer
 * per tensor) plus the token buffer, and cuts the model's tensors from them.
 *
 * @module
 */
import type { AttentionKind } from "./block.ts";
import type { GPT2Config } from "./config.ts";
import { GPT2 } from "./gpt2.ts";
import { bindModelTensors, planModel } from "./layout.ts";
import { createGpuExecutor, type GpuExecutor, type GpuExecutorOptions } from "../gpu/executor.ts";
import { probeFreeBytes } from "../gpu/memory_probe.ts";
import { GpuOutOfMemory } from "../gpu/runtime.ts";
import { checkFlashHeadSize } from "../layers/flash_attention.ts";
import { type GpuTensor, storageBytes } from "../gpu/tensor.ts";
import type { TensorPlan } from "./module.ts";
import { UserError } from "../util/errors.ts";

/** GPU bindings start on 256-byte boundaries: 64 float32 elements. */
export const GPU_ALIGN_ELEMENTS = 64;

/**
 * A GPT-2 on the GPU at batch size B and sequence length T, parameters all zero (fill them from a checkpoint or
 * `randomParameters`).
 *
 * @param cfg Model shape.
 * @param B Batch size.
 * @param T Sequence length (≤ cfg.maxSeqLen).
 * @param options Backend tuning, or an existing backend to share.
 * @returns The model; `model.exec` is the `GpuExecutor`.
 * @throws UserError when there is no adapter, or a tensor does not fit this GPU's buffers.
 * @example
 * ```ts
 * import { createGpuModel } from "./gpu_model.ts";
 * import { parseModelDescriptor } from "./config.ts";
 * const model = await createGpuModel(parseModelDescriptor("layers=1,heads=2,channels=8,seq=4,vocab=10")!, 1, 4);
 * model.forward(new Int32Array([1, 2, 3, 4]), new Int32Array([2, 3, 4, 5]));
 * if (Math.abs((await model.meanLoss()) - Math.log(10)) > 1e-6) throw new Error("zero weights give uniform probs");
 * ```
 */
export async function createGpuModel(
  cfg: GPT2Config,
  B: number,
  T: number,
  options: GpuExecutorOptions & { exec?: GpuExecutor } & ModelPlanOptions = {},
): Promise<GPT2<GpuTensor, GpuTensor>> {
  const plan = {
    attention: options.attention ?? "materialized",
    training: options.training ?? true,
    rowsInFlight: options.rowsInFlight,
    precision: options.precision ?? "fp32",
  } as const;
  if (plan.attention === "flash") checkFlashHeadSize(cfg.channels, cfg.numHeads);
  const layout = planModel(cfg, B, T, GPU_ALIGN_ELEMENTS, plan.attention, inFlight(plan));
  const exec = options.exec ?? await createGpuExecutor(options);
  checkHostMemory(exec, cfg, B, T, plan);
  const allocated: GpuTensor[] = [];
  const allocate = async (name: string, plan: TensorPlan, mode: "packed" | "perTensor", dtype?: "f16") => {
    const t = await exec.allocatePlan(name, plan, mode, dtype);
    allocated.push(t);
    return t;
  };
  let arenas;
  try {
    arenas = {
      params: await allocate("params", layout.params, "packed"),
      acts: await allocate("acts", layout.acts, "perTensor"),
      weights16: plan.precision === "f16" ? await allocate("params.f16", layout.params, "packed", "f16") : undefined,
      training: plan.training
        ? {
          grads: await allocate("grads", layout.params, "packed"),
          m: await allocate("adamw.m", layout.params, "packed"),
          v: await allocate("adamw.v", layout.params, "packed"),
          gradActs: await allocate("gradActs", layout.gradActs, "perTensor"),
        }
        : undefined,
    };
  } catch (err) {
    if (!(err instanceof GpuOutOfMemory)) throw err;
    // WebGPU does not say how much memory a device has: measure what was free, free everything, say what fits.
    const held = allocated.reduce((sum, t) => sum + storageBytes(t.arena.dtype, t.arena.length), 0);
    const need = gpuModelBytes(cfg, B, T, plan);
    const { device, limits } = exec.runtime;
    const free = await probeFreeBytes(device, limits.maxBufferSize, need - held);
    for (const t of allocated) for (const segment of t.arena.segments) segment.buffer.destroy();
    const where = `this GPU (${exec.runtime.ctx.description}) had`;
    throw new UserError(whatFits(cfg, B, T, held + free, where, plan));
  }
  const tokens = await exec.allocate("tokens", 2 * B * T, "i32");
  const tensors = bindModelTensors(exec, layout, arenas, {
    inputs: exec.view(tokens, 0, B * T),
    targets: exec.view(tokens, B * T, B * T),
  });
  return new GPT2(exec, layout, tensors);
}

/**
 * Bytes of the arenas a GPU model of this shape allocates: parameters (and their f16 copy in an f16 model) and
 * activations, and for training the gradients, AdamW m, v and activation gradients (the token buffer aside).
 *
 * @param cfg Model shape.
 * @param B Batch size.
 * @param T Sequence length.
 * @param options Attention and training (see `ModelPlanOptions`).
 * @returns Bytes.
 */
export function gpuModelBytes(cfg: GPT2Config, B: number, T: number, options: ModelPlanOptions = {}): number {
  const layout = planModel(cfg, B, T, GPU_ALIGN_ELEMENTS, options.attention, inFlight(options));
  const P = layout.params.totalElements;
  const training = options.training ?? true ? 3 * P + layout.gradActs.totalElements : 0;
  const weights16 = options.precision === "f16" ? storageBytes("f16", P) : 0;
  return 4 * (P + layout.acts.totalElements + training) + weights16;
}

/** How a model is planned: its attention, and whether it trains (false: no gradients or optimizer state). */
export interface ModelPlanOptions {
  attention?: AttentionKind;
  /** Default true. */
  training?: boolean;
  /**
   * An inference model's rows in flight (decoding: the samples of one step; a prompt runs in pieces of this many
   * rows): every activation but the KV cache holds this many rows instead of B·T. Ignored when training.
   */
  rowsInFlight?: number;
  /**
   * "f16": the matmuls read an f16 copy of the weights, refreshed after every update and parameter write, while
   * the float32 parameters stay the master copy (the arithmetic stays float32); "fp32" (default): no copy.
   */
  precision?: Precision;
}

/** What the matmuls read the weights as: float32, or an f16 copy of the float32 masters. */
export type Precision = "fp32" | "f16";

/** The rows in flight a plan gets: only inference models hold fewer than all rows. */
export function inFlight(options: ModelPlanOptions): number | undefined {
  return options.training ?? true ? undefined : options.rowsInFlight;
}

/**
 * The largest batch size whose model fits in `capacity` bytes at sequence length T (0 when not even B = 1 does),
 * from the plans themselves: memory grows by the same amount with each sequence of the batch.
 *
 * @param cfg Model shape.
 * @param T Sequence length.
 * @param capacity Bytes available.
 * @param options Attention and training (see `ModelPlanOptions`).
 * @returns The batch size.
 */
export function largestBatch(cfg: GPT2Config, T: number, capacity: number, options: ModelPlanOptions = {}): number {
  const one = gpuModelBytes(cfg, 1, T, options);
  const perRow = gpuModelBytes(cfg, 2, T, options) - one;
  let B = Math.max(0, Math.floor((capacity - one) / perRow) + 1);
  while (B > 0 && gpuModelBytes(cfg, B, T, options) > capacity) B--; // alignment padding can cost a row at the edge
  return B;
}

/**
 * The one line for a model that does not fit: what it needs, what was available, and the batch that fits.
 *
 * @param cfg Model shape.
 * @param B Requested batch size.
 * @param T Requested sequence length.
 * @param capacity Bytes available.
 * @param where Who had `capacity`, e.g. "this GPU (NVIDIA H200) had".
 * @param options Attention and training (see `ModelPlanOptions`).
 * @returns The message.
 */
export function whatFits(
  cfg: GPT2Config,
  B: number,
  T: number,
  capacity: number,
  where: string,
  options: ModelPlanOptions = {},
): string {
  const gib = (n: number) => `${(n / 2 ** 30).toFixed(1)} GiB`;
  const one = gpuModelBytes(cfg, 1, T, options);
  const perRow = gpuModelBytes(cfg, 2, T, options) - one;
  const fits = largestBatch(cfg, T, capacity, options);
  const training = options.training ?? true;
  const fixed = training ? "the weights, their gradients and AdamW state" : "the weights (inference only)";
  const advice = !training
    ? (fits > 0 ? `${fits} sequences of ${T} positions fit` : `not even one sequence of ${T} positions fits`)
    : fits > 0
    ? `-b ${fits} fits at -t ${T} (use -d to keep the tokens per step through gradient accumulation)`
    : `not even -b 1 fits at -t ${T}: use a shorter -t or a smaller model`;
  const shape = training ? `-b ${B} -t ${T}` : `${B} × ${T} positions`;
  const need = gib(gpuModelBytes(cfg, B, T, options));
  return `a ${cfg.numLayers}-layer, ${cfg.channels}-channel model at ${shape} needs ${need} of GPU memory ` +
    `(${gib(one - perRow)} for ${fixed}, ${gib(perRow)} per sequence of the batch), but ${where} ` +
    `${gib(capacity)}: ${advice}`;
}

/**
 * A software adapter (llvmpipe) keeps GPU buffers in host memory and never reports out-of-memory: the process is
 * killed instead. Refuse up front, with a UserError saying what fits, a model whose arenas exceed the host's
 * available memory.
 */
function checkHostMemory(exec: GpuExecutor, cfg: GPT2Config, B: number, T: number, plan: ModelPlanOptions): void {
  const ctx = exec.runtime.ctx;
  if (!ctx.isFallback) return;
  let available: number;
  try {
    available = Deno.systemMemoryInfo().available;
  } catch {
    return; // no --allow-sys: cannot tell
  }
  if (gpuModelBytes(cfg, B, T, plan) > available) {
    const where = `the software adapter (${ctx.description}) keeps it in host memory, which has`;
    throw new UserError(whatFits(cfg, B, T, available, where, plan));
  }
}
