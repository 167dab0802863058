/**
 * llm.ts: GPT-2 training and inference in TypeScript, with WGSL kernels on WebGPU and a CPU backend in WebAssembly
 * SIMD, interoperable with llm.c's files.
 *
 * A model is built on a backend (`createModel` picks one; `createCpuModel` and `createGpuModel` name it), filled from
 * a checkpoint or a seeded init, trained with `forward` / `backward` / `update` (or the whole `train` loop of
 * `gpt2 train`), and sampled with `generateTokens`:
 *
 * @example
 * ```ts
 * import { createModel, generateTokens, PARAMETER_NAMES, parseModelDescriptor, randomParameters } from "./mod.ts";
 * const cfg = parseModelDescriptor("layers=2,heads=2,channels=32,seq=16,vocab=64")!;
 * const { model } = await createModel(cfg, 2, 16, "cpu");
 * for (const [name, values] of randomParameters(cfg, 42)) model.writeParameter(name, values);
 * const inputs = Int32Array.from({ length: 32 }, (_, i) => i % 8); // a repeating pattern to learn
 * const targets = Int32Array.from({ length: 32 }, (_, i) => (i + 1) % 8);
 * const adamw = { learningRate: 1e-2, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0, maxGradNorm: 1 };
 * let first = NaN, last = NaN;
 * for (let step = 1; step <= 20; step++) {
 *   model.forward(inputs, targets);
 *   model.zeroGrad();
 *   model.backward();
 *   last = await model.meanLoss();
 *   if (step === 1) first = last;
 *   await model.update({ ...adamw, step });
 * }
 * if (!(last < first - 1)) throw new Error(`loss ${first} -> ${last}`);
 *
 * // A model for generation only: weights and activations, no gradients or AdamW state.
 * const { model: sampler } = await createModel(cfg, 1, 16, "cpu", { training: false });
 * const trained = await model.readParameters();
 * for (const name of PARAMETER_NAMES) sampler.writeParameter(name, trained[name]);
 * model.close();
 * const tokens = await generateTokens(sampler, [0], { maxNewTokens: 8, seed: 1337, temperature: 0 });
 * sampler.close();
 * if (tokens.length !== 8) throw new Error("8 tokens");
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
export * from "./prepro/tinystories.ts";
export * from "./prepro/hellaswag.ts";
export * from "./prepro/dataloader.ts";
export * from "./model/safetensors.ts";
export * from "./model/huggingface.ts";
export * from "./model/huggingface_config.ts";
export * from "./model/gpt2.ts";
export { type AttentionKind } from "./model/block.ts";
export * from "./model/layout.ts";
export * from "./model/backends.ts";
export * from "./model/cpu_model.ts";
export * from "./model/gpu_model.ts";
export * from "./model/decoder.ts";
export * from "./model/checkpoint.ts";
export * from "./model/debug_state.ts";
export * from "./model/init.ts";
export * from "./model/source.ts";
export * from "./cpu/executor.ts";
export { train, type TrainOptions, type TrainResult } from "./train/trainer.ts";
export * from "./train/hellaswag.ts";
