/**
 * Builds a GPT-2 on the CPU backend: plans every arena, allocates them all at once in one shared WebAssembly memory
 * (parameters, gradients, AdamW m and v, activations, activation gradients, tokens) and cuts the tensors.
 *
 * @module
 */
import { CpuExecutor } from "../cpu/executor.ts";
import type { CpuKernels } from "../cpu/kernels.ts";
import { allocateCpuArenas } from "../cpu/memory.ts";
import type { AttentionKind } from "./block.ts";
import type { Precision } from "./gpu_model.ts";
import type { GPT2Config } from "./config.ts";
import { GPT2 } from "./gpt2.ts";
import { bindModelTensors, planModel } from "./layout.ts";

/** Options of `createCpuModel`. */
export interface CpuModelOptions {
  /**
   * Makes the fast matmul/attention kernels over the model's memory once it exists (e.g.
   * `(memory) => CpuKernels.create(memory)`); their `close` runs on `model.close()`. Without it every op runs the
   * scalar reference layers.
   */
  kernels?: (memory: WebAssembly.Memory) => Promise<CpuKernels>;
  /** How the blocks compute attention; "materialized" (the WASM kernels) when absent. */
  attention?: AttentionKind;
  /** false: an inference model, without gradients, AdamW state or activation gradients. Default true. */
  training?: boolean;
  /** An inference model's rows in flight (see `ModelPlanOptions.rowsInFlight`). */
  rowsInFlight?: number;
  /**
   * "f16": the matmuls read a copy of the weights rounded to halves, as an f16 GPU model's do (float32 storage
   * here: the CPU twin of f16 storage, for comparing the two backends); default "fp32".
   */
  precision?: Precision;
}

/**
 * A GPT-2 on the CPU at batch size B and sequence length T, parameters all zero (fill them from a checkpoint or
 * `randomParameters`).
 *
 * @param cfg Model shape.
 * @param B Batch size.
 * @param T Sequence length (≤ cfg.maxSeqLen).
 * @param options Optional fast kernels.
 * @returns The model; call `close()` when done if kernels were given.
 * @example
 * ```ts
 * import { createCpuModel } from "./cpu_model.ts";
 * import { parseModelDescriptor } from "./config.ts";
 * const model = await createCpuModel(parseModelDescriptor("layers=1,heads=2,channels=8,seq=4,vocab=10")!, 1, 4);
 * model.forward(new Int32Array([1, 2, 3, 4]), new Int32Array([2, 3, 4, 5]));
 * if (Math.abs((await model.meanLoss()) - Math.log(10)) > 1e-6) throw new Error("zero weights give uniform probs");
 * ```
 */
export async function createCpuModel(
  cfg: GPT2Config,
  B: number,
  T: number,
  options: CpuModelOptions = {},
): Promise<GPT2<Float32Array, Int32Array>> {
  const training = options.training ?? true;
  const layout = planModel(cfg, B, T, 16, options.attention, training ? undefined : options.rowsInFlight);
  const P = layout.params.totalElements;
  const what = `GPT-2 (L=${cfg.numLayers}, C=${cfg.channels}, V=${cfg.vocabSize}) at B=${B}, T=${T}`;
  const { memory, arenas } = allocateCpuArenas(
    [
      P,
      layout.acts.totalElements,
      2 * B * T,
      options.precision === "f16" ? P : 0,
      ...(training ? [P, P, P, layout.gradActs.totalElements] : []),
    ],
    what,
  );
  const [params, acts, tokenArena, weights16, grads, m, v, gradActs] = arenas;
  const tokens = new Int32Array(memory.buffer, tokenArena.byteOffset, 2 * B * T);
  const kernels = options.kernels ? await options.kernels(memory) : undefined;
  const exec = new CpuExecutor(kernels);
  const tensors = bindModelTensors(exec, layout, {
    params,
    acts,
    weights16: options.precision === "f16" ? weights16 : undefined,
    training: training ? { grads, m, v, gradActs } : undefined,
  }, {
    inputs: tokens.subarray(0, B * T),
    targets: tokens.subarray(B * T),
  });
  return new GPT2(exec, layout, tensors, { dispose: () => kernels?.close() });
}
