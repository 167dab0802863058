/**
 * GPT-2's tensor table: the model as a composition of declared modules — the embedding, `stack(L, block)` and the
 * head — from which every list of names and every arena plan derives. The order of the declarations is llm.c's:
 * the 16 parameter tensors come out as wte, wpe, ln1w … fcprojb (each (L, …)), lnfw, lnfb, the order of checkpoint
 * files and debug-state gradients.
 *
 * @module
 */
import { type AttentionKind, type BlockTensors, blockTensors } from "./block.ts";
import type { GPT2Config } from "./config.ts";
import {
  combine,
  declare,
  type ModulePlan,
  planModule,
  type Shape,
  stack,
  type TensorDecls,
  type TensorSpec,
} from "./module.ts";

export { planTensors, type TensorPlan, type TensorSlot, type TensorSpec } from "./module.ts";

/** What the embedding declares. */
type EmbeddingTensors = TensorDecls<Record<"wte" | "wpe", Shape>, Record<"encoded", Shape>>;
/** What the head declares. */
type HeadTensors = TensorDecls<
  Record<"lnfw" | "lnfb", Shape>,
  Record<"lnf" | "lnfMean" | "lnfRstd" | "logits" | "lse" | "losses" | "coins" | "sampled", Shape>,
  Record<never, Shape>,
  Record<"dresidual" | "dln" | "gradNormSquared", Shape>
>;

/** The token and position embeddings. */
function embeddingTensors(cfg: GPT2Config, R: Shape): EmbeddingTensors {
  const { paddedVocabSize: Vp, maxSeqLen: maxT, channels: C } = cfg;
  return declare({
    params: { wte: [Vp, C], wpe: [maxT, C] }, // wte rows V..Vp-1 are padding and stay zero
    acts: { encoded: [...R, C] },
  });
}

/**
 * The final layernorm, the tied vocabulary projection and the loss. The classifier is fused (llm.c's): no
 * probabilities are kept, and backward overwrites `logits` with their gradient in place, so there is no (B,T,Vp)
 * gradient buffer.
 */
function headTensors(cfg: GPT2Config, B: number, T: number, R: Shape): HeadTensors {
  const { paddedVocabSize: Vp, channels: C } = cfg;
  // deno-fmt-ignore
  return declare({
    params: { lnfw: [C], lnfb: [C] },
    acts: {
      lnf: [...R, C], lnfMean: R, lnfRstd: R,
      logits: [...R, Vp], // d loss / d logits after backward (softmaxCrossEntropy.backward works in place)
      lse: R, // log Σ exp of each logits row, from the loss's forward, for its backward
      losses: R,
      coins: [B, T], sampled: [B, T], // generation: the sampler's uniforms, and the ids drawn on the device
    },
    grads: {
      dresidual: [B, T, C], // the residual stream's gradient (shared with every block)
      dln: [B, T, C],
      gradNormSquared: [2], // Σ grad² of the whole gradient arena, for clipping (see `adamw.gradNormSquared`)
    },
  });
}

/**
 * Every tensor of GPT-2 at batch B, sequence T, by module.
 *
 * @param cfg Model shape.
 * @param B Batch size.
 * @param T Sequence length.
 * @param attention How the blocks compute attention.
 * @param rows Rows in flight of an inference model (every activation but the KV cache holds this many rows);
 *   undefined: all B·T.
 * @returns The modules and their combination, in llm.c's order.
 */
export function gpt2Tensors(
  cfg: GPT2Config,
  B: number,
  T: number,
  attention: AttentionKind = "materialized",
  rows?: number,
): { embedding: EmbeddingTensors; block: BlockTensors; head: HeadTensors; model: TensorDecls } {
  const R: Shape = rows ? [rows] : [B, T];
  const embedding = embeddingTensors(cfg, R);
  const block = blockTensors({ B, T, C: cfg.channels, NH: cfg.numHeads, attention, rows });
  const head = headTensors(cfg, B, T, R);
  return { embedding, block, head, model: combine(embedding, stack(cfg.numLayers, block), head) };
}

type Names<M extends TensorDecls, K extends keyof TensorDecls> = keyof M[K] & string;
/** One of the 16 parameter tensor names. */
export type ParameterName =
  | Names<EmbeddingTensors, "params">
  | Names<BlockTensors, "params">
  | Names<HeadTensors, "params">;
/** The name of a planned activation (per-block ones are (L, …) tensors here). */
export type ActivationName =
  | Names<EmbeddingTensors, "acts">
  | Names<BlockTensors, "acts">
  | Names<BlockTensors, "shared">
  | Names<HeadTensors, "acts">;
/** The name of an activation-gradient buffer. */
export type ActivationGradName = Names<BlockTensors, "grads"> | Names<HeadTensors, "grads">;

const SHAPE_ONLY: GPT2Config = {
  maxSeqLen: 1,
  vocabSize: 1,
  paddedVocabSize: 1,
  numLayers: 1,
  numHeads: 1,
  channels: 1,
};

/** Names of the 16 parameter tensors in llm.c's checkpoint order. */
export const PARAMETER_NAMES: readonly ParameterName[] = Object.keys(
  gpt2Tensors(SHAPE_ONLY, 1, 1).model.params,
) as ParameterName[];

/**
 * The 16 parameter tensors of GPT-2 in llm.c's order (the order of checkpoint files and debug-state gradients).
 *
 * @param cfg Model shape.
 * @returns Specs with shapes.
 * @example
 * ```ts
 * import { parameterSpecs } from "./tensors.ts";
 * import { parseModelDescriptor } from "./config.ts";
 * const specs = parameterSpecs(parseModelDescriptor("d12")!);
 * if (specs[4].name !== "qkvw" || specs[4].shape.join() !== "12,2304,768") throw new Error("llm.c's order");
 * ```
 */
export function parameterSpecs(cfg: GPT2Config): TensorSpec[] {
  return Object.entries(gpt2Tensors(cfg, 1, 1).model.params).map(([name, shape]) => ({
    name,
    shape: [...shape],
    dtype: "f32",
  }));
}

/** Number of parameters (with wte's padded rows), as llm.c counts them. */
export function parameterCount(cfg: GPT2Config): number {
  return parameterSpecs(cfg).reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
}

/**
 * The arena plans of GPT-2 at batch B, sequence T.
 *
 * @param cfg Model shape.
 * @param B Batch size.
 * @param T Sequence length.
 * @param alignElements Alignment of each tensor start (CPU 16, GPU 64).
 * @param attention How the blocks compute attention (see `AttentionKind`).
 * @param rows Rows in flight of an inference model (see `gpt2Tensors`).
 * @returns Parameters (also gradients, m, v), activations, activation gradients.
 */
export function planGpt2(
  cfg: GPT2Config,
  B: number,
  T: number,
  alignElements: number,
  attention: AttentionKind = "materialized",
  rows?: number,
): ModulePlan {
  return planModule(gpt2Tensors(cfg, B, T, attention, rows).model, alignElements);
}
