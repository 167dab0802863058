/**
 * Builds a GPT-2 on the WebGPU backend: plans every arena with 256-byte (64-element) alignment, allocates one
 * GPU arena per role (parameters, gradients and AdamW m, v packed; activations and activation gradients one buffer
 * per tensor) plus the token buffer, and cuts the model's tensors from them.
 *
 * @module
 */
import type { GPT2Config } from "./config.ts";
import { GPT2 } from "./gpt2.ts";
import { bindModelTensors, planModel } from "./layout.ts";
import { createGpuExecutor, type GpuExecutor, type GpuExecutorOptions } from "../gpu/executor.ts";
import type { GpuTensor } from "../gpu/tensor.ts";
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
  options: GpuExecutorOptions & { exec?: GpuExecutor } = {},
): Promise<GPT2<GpuTensor, GpuTensor>> {
  const layout = planModel(cfg, B, T, GPU_ALIGN_ELEMENTS);
  const exec = options.exec ?? await createGpuExecutor(options);
  const bytes = 4 * (4 * layout.params.totalElements + layout.acts.totalElements + layout.gradActs.totalElements);
  checkHostMemory(exec, bytes);
  const arenas = {
    params: await exec.allocatePlan("params", layout.params, "packed"),
    grads: await exec.allocatePlan("grads", layout.params, "packed"),
    m: await exec.allocatePlan("adamw.m", layout.params, "packed"),
    v: await exec.allocatePlan("adamw.v", layout.params, "packed"),
    acts: await exec.allocatePlan("acts", layout.acts, "perTensor"),
    gradActs: await exec.allocatePlan("gradActs", layout.gradActs, "perTensor"),
  };
  const tokens = await exec.allocate("tokens", 2 * B * T, "i32");
  const tensors = bindModelTensors(exec, layout, arenas, {
    inputs: exec.view(tokens, 0, B * T),
    targets: exec.view(tokens, B * T, B * T),
  });
  return new GPT2(exec, layout, tensors);
}

/**
 * A software adapter (llvmpipe) keeps GPU buffers in host memory and never reports out-of-memory: the process is
 * killed instead. Refuse up front, with a UserError, a model whose arenas exceed the host's available memory.
 */
function checkHostMemory(exec: GpuExecutor, bytes: number): void {
  const ctx = exec.runtime.ctx;
  if (!ctx.isFallback) return;
  let available: number;
  try {
    available = Deno.systemMemoryInfo().available;
  } catch {
    return; // no --allow-sys: cannot tell
  }
  if (bytes > available) {
    const gib = (n: number) => `${(n / 2 ** 30).toFixed(1)} GiB`;
    throw new UserError(
      `the model needs ${gib(bytes)} of GPU memory, but the software adapter (${ctx.description}) keeps it in ` +
        `host memory, which has ${gib(available)} available; use a smaller model, batch or sequence length`,
    );
  }
}
