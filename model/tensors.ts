/**
 * The tensor table and the typed memory planner. Every tensor of the model is declared once here with its shape;
 * the planner turns a list of specs into offsets inside one arena per role (parameters, gradients, AdamW m and v,
 * activations, activation gradients). The CPU backend lays each arena out in shared WebAssembly memory; the GPU
 * backend makes one buffer per role. Nothing is allocated per step.
 *
 * @module
 */
import type { GPT2Config } from "./config.ts";

/** Element type of a tensor. */
export type DType = "f32" | "i32";

/** A tensor declaration: name, shape and element type. */
export interface TensorSpec {
  name: string;
  shape: number[];
  dtype: DType;
}

/** Where a planned tensor lives inside its arena, in elements (4 bytes each for f32 and i32). */
export interface TensorSlot extends TensorSpec {
  /** Start, in elements, from the arena's start. */
  offset: number;
  /** Number of elements (product of the shape). */
  length: number;
}

/** The result of planning: slots by name (in declaration order) and the arena size. */
export interface TensorPlan {
  slots: TensorSlot[];
  byName: Map<string, TensorSlot>;
  /** Total elements including alignment padding. */
  totalElements: number;
}

/**
 * Lays out `specs` one after another, each start rounded up to `alignElements` (GPU bindings need 256-byte
 * aligned offsets: 64 elements; the CPU uses 16 = one cache line).
 *
 * @param specs Tensors in order.
 * @param alignElements Alignment of each start, in elements.
 * @returns The plan.
 * @example
 * ```ts
 * import { planTensors } from "./tensors.ts";
 * const plan = planTensors([{ name: "a", shape: [3], dtype: "f32" }, { name: "b", shape: [2, 2], dtype: "f32" }], 16);
 * if (plan.byName.get("b")!.offset !== 16 || plan.totalElements !== 32) throw new Error("bad layout");
 * ```
 */
export function planTensors(specs: TensorSpec[], alignElements = 1): TensorPlan {
  const slots: TensorSlot[] = [];
  const byName = new Map<string, TensorSlot>();
  let cursor = 0;
  for (const spec of specs) {
    cursor = Math.ceil(cursor / alignElements) * alignElements;
    const length = spec.shape.reduce((a, b) => a * b, 1);
    const slot = { ...spec, offset: cursor, length };
    slots.push(slot);
    byName.set(spec.name, slot);
    cursor += length;
  }
  return { slots, byName, totalElements: Math.ceil(cursor / alignElements) * alignElements };
}

/** Names of the 16 parameter tensors in llm.c's checkpoint order. */
export const PARAMETER_NAMES = [
  "wte",
  "wpe",
  "ln1w",
  "ln1b",
  "qkvw",
  "qkvb",
  "attprojw",
  "attprojb",
  "ln2w",
  "ln2b",
  "fcw",
  "fcb",
  "fcprojw",
  "fcprojb",
  "lnfw",
  "lnfb",
] as const; // deno-fmt-ignore

/** One of the 16 parameter tensor names. */
export type ParameterName = typeof PARAMETER_NAMES[number];

/**
 * The 16 parameter tensors of GPT-2 in llm.c's order (the order of checkpoint files and debug-state gradients).
 *
 * @param cfg Model shape.
 * @returns Specs with shapes.
 */
export function parameterSpecs(cfg: GPT2Config): TensorSpec[] {
  const { paddedVocabSize: Vp, maxSeqLen: maxT, numLayers: L, channels: C } = cfg;
  const f32 = (name: ParameterName, shape: number[]): TensorSpec => ({ name, shape, dtype: "f32" });
  return [
    f32("wte", [Vp, C]), // token embedding; rows V..Vp-1 are padding and stay zero
    f32("wpe", [maxT, C]), // position embedding
    f32("ln1w", [L, C]),
    f32("ln1b", [L, C]),
    f32("qkvw", [L, 3 * C, C]), // rows: q, k, v for all heads
    f32("qkvb", [L, 3 * C]),
    f32("attprojw", [L, C, C]),
    f32("attprojb", [L, C]),
    f32("ln2w", [L, C]),
    f32("ln2b", [L, C]),
    f32("fcw", [L, 4 * C, C]),
    f32("fcb", [L, 4 * C]),
    f32("fcprojw", [L, C, 4 * C]),
    f32("fcprojb", [L, C]),
    f32("lnfw", [C]),
    f32("lnfb", [C]),
  ];
}

/** Number of parameters (with wte's padded rows), as llm.c counts them. */
export function parameterCount(cfg: GPT2Config): number {
  return parameterSpecs(cfg).reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
}

/**
 * The activations of one forward pass at batch B, sequence T, in llm.c's order. The backward pass uses a second
 * arena with the same plan for their gradients.
 *
 * @param cfg Model shape.
 * @param B Batch size.
 * @param T Sequence length (≤ cfg.maxSeqLen).
 * @returns Specs with shapes.
 */
export function activationSpecs(cfg: GPT2Config, B: number, T: number): TensorSpec[] {
  const { paddedVocabSize: Vp, numLayers: L, channels: C, numHeads: NH } = cfg;
  const f32 = (name: string, shape: number[]): TensorSpec => ({ name, shape, dtype: "f32" });
  return [
    f32("encoded", [B, T, C]),
    f32("ln1", [L, B, T, C]),
    f32("ln1Mean", [L, B, T]),
    f32("ln1Rstd", [L, B, T]),
    f32("qkv", [L, B, T, 3 * C]),
    f32("atty", [L, B, T, C]),
    // Attention scores are not kept per layer: one (B, NH, T, T) pair is shared by every layer, and the backward
    // pass recomputes a layer's softmax from its qkv before using it. Nothing larger than B·NH·T·T is stored.
    f32("preatt", [B, NH, T, T]),
    f32("att", [B, NH, T, T]),
    f32("attproj", [L, B, T, C]),
    f32("residual2", [L, B, T, C]),
    f32("ln2", [L, B, T, C]),
    f32("ln2Mean", [L, B, T]),
    f32("ln2Rstd", [L, B, T]),
    f32("fch", [L, B, T, 4 * C]),
    f32("fchGelu", [L, B, T, 4 * C]),
    f32("fcproj", [L, B, T, C]),
    f32("residual3", [L, B, T, C]),
    f32("lnf", [B, T, C]),
    f32("lnfMean", [B, T]),
    f32("lnfRstd", [B, T]),
    f32("logits", [B, T, Vp]),
    f32("probs", [B, T, Vp]),
    f32("losses", [B, T]),
  ];
}
