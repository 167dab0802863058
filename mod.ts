/**
 * llm.ts: GPT-2 training and inference in TypeScript, with WGSL kernels on WebGPU and a CPU fallback,
 * interoperable with llm.c's files.
 *
 * @example
 * ```ts
 * import { parseModelDescriptor, parameterCount } from "./mod.ts";
 * const cfg = parseModelDescriptor("d12")!;
 * console.log(parameterCount(cfg)); // 124475904 (wte padded to 50304 rows)
 * ```
 *
 * @module
 */
export * from "./model/config.ts";
export {
  type ActivationGradName,
  type ActivationName,
  PARAMETER_NAMES,
  parameterCount,
  type ParameterName,
  parameterSpecs,
  planTensors,
  type TensorPlan,
  type TensorSlot,
  type TensorSpec,
} from "./model/tensors.ts";
export type * from "./model/executor.ts";
export * from "./util/errors.ts";
export * from "./prepro/tokenizer.ts";
export * from "./prepro/shard.ts";
export * from "./prepro/text.ts";
export * from "./prepro/tinyshakespeare.ts";
export * from "./prepro/dataloader.ts";
export * from "./model/safetensors.ts";
export * from "./model/huggingface.ts";
export * from "./model/huggingface_config.ts";
export * from "./model/gpt2.ts";
export * from "./model/layout.ts";
export * from "./model/cpu_model.ts";
export * from "./model/checkpoint.ts";
export * from "./model/debug_state.ts";
export * from "./model/init.ts";
export * from "./model/source.ts";
export * from "./cpu/executor.ts";
