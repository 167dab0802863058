/**
 * The model's memory layout: one tensor plan per role (parameters, which gradients and AdamW m and v share;
 * activations; activation gradients), planned from the module declarations of `tensors.ts`, and the binding of
 * those plans to a backend's arena handles.
 *
 * Activation gradients are not one per activation (as in llm.c's CPU trainer) but one per kind of buffer, reused by
 * every layer as in llm.c's CUDA trainer: a single residual-stream gradient that each block reads and adds to, and
 * one (B,T,·) buffer per intermediate, so their memory does not grow with depth.
 *
 * @module
 */
import type { AttentionKind } from "./block.ts";
import type { GPT2Config } from "./config.ts";
import type { Executor } from "./executor.ts";
import {
  type ActivationGradName,
  type ActivationName,
  PARAMETER_NAMES,
  type ParameterName,
  planGpt2,
  type TensorPlan,
} from "./tensors.ts";

/** The tensor plans of a model at batch B and sequence length T. */
export interface ModelLayout {
  /** Model shape. */
  config: GPT2Config;
  /** Batch size. */
  B: number;
  /** Sequence length. */
  T: number;
  /** How the blocks compute attention. */
  attention: AttentionKind;
  /**
   * An inference model's rows in flight: every activation but the KV cache (qkv) holds this many rows, and
   * `GPT2.forwardRows` runs longer ranges in pieces. Undefined: activations hold all B·T rows.
   */
  rowsInFlight?: number;
  /** Parameters; gradients, AdamW m and v use the same plan. */
  params: TensorPlan;
  /** Activations (the modules' acts and shared tensors). */
  acts: TensorPlan;
  /** Activation gradients (the modules' grads). */
  gradActs: TensorPlan;
}

/**
 * Plans every arena of a model.
 *
 * @param cfg Model shape.
 * @param B Batch size.
 * @param T Sequence length (≤ cfg.maxSeqLen).
 * @param alignElements Alignment of each tensor start, in elements (CPU 16, GPU 64).
 * @param attention How the blocks compute attention (see `AttentionKind`).
 * @param rowsInFlight Rows in flight of an inference model (see `ModelLayout.rowsInFlight`), from 1 to B·T.
 * @returns The plans.
 * @example
 * ```ts
 * import { planModel } from "./layout.ts";
 * import { parseModelDescriptor } from "./config.ts";
 * const layout = planModel(parseModelDescriptor("layers=2,heads=3,channels=30,seq=16")!, 2, 8, 16);
 * if (layout.acts.byName.get("logits")!.length !== 2 * 8 * 50304) throw new Error("bad plan");
 * ```
 */
export function planModel(
  cfg: GPT2Config,
  B: number,
  T: number,
  alignElements: number,
  attention: AttentionKind = "materialized",
  rowsInFlight?: number,
): ModelLayout {
  if (!Number.isInteger(B) || B < 1) throw new RangeError(`batch size must be a positive integer, got ${B}`);
  if (!Number.isInteger(T) || T < 1 || T > cfg.maxSeqLen) {
    throw new RangeError(`sequence length must be an integer in [1, ${cfg.maxSeqLen}], got ${T}`);
  }
  if (rowsInFlight !== undefined && !(Number.isInteger(rowsInFlight) && rowsInFlight >= 1)) {
    throw new RangeError(`rows in flight must be a positive integer, got ${rowsInFlight}`);
  }
  const rows = rowsInFlight !== undefined && rowsInFlight < B * T ? rowsInFlight : undefined;
  const plan = planGpt2(cfg, B, T, alignElements, attention, rows);
  return {
    config: cfg,
    B,
    T,
    attention,
    ...(rows ? { rowsInFlight: rows } : {}),
    params: plan.params,
    acts: plan.acts,
    gradActs: plan.grads,
  };
}

/** A backend's handles for every tensor of a model, made by `bindModelTensors`. */
export interface ModelTensors<F, I> {
  /** The 16 parameter tensors. */
  params: Record<ParameterName, F>;
  /**
   * The whole parameter arena, for AdamW in one call. This and the arenas of `training` include the alignment
   * padding between tensors, which stays zero.
   */
  paramsArena: F;
  /** Activations by name. */
  acts: Record<ActivationName, F>;
  /**
   * With `precision: "f16"`, the f16 copy of the parameters the matmuls read (an f16 arena on the GPU; half-rounded
   * float32 values on the CPU), laid out like `params`; the float32 parameters stay the master copy.
   */
  weights16?: { byName: Record<ParameterName, F>; arena: F };
  /** Gradients, AdamW state and activation gradients; absent in a model built for inference only. */
  training?: TrainingTensors<F>;
  /** Input tokens (B,T). */
  inputs: I;
  /** Target tokens (B,T). */
  targets: I;
}

/** What only training needs: a model built for inference (generation) allocates none of it. */
export interface TrainingTensors<F> {
  /** The parameters' gradients. */
  grads: Record<ParameterName, F>;
  /** The whole gradient arena (gradient norm, zeroing, AdamW). */
  gradsArena: F;
  /** AdamW first moments, laid out like the parameters. */
  mArena: F;
  /** AdamW second moments, laid out like the parameters. */
  vArena: F;
  /** Activation gradients by name. */
  gradActs: Record<ActivationGradName, F>;
}

/**
 * Cuts a backend's arenas into named tensors with `exec.view`, following the layout.
 *
 * @param exec The backend.
 * @param layout The plans the arenas were sized from.
 * @param arenas One handle per role, each at least as long as its plan; without `training`, an inference model.
 * @param tokens Handles for the input and target tokens, B·T each.
 * @returns The named tensors.
 */
export function bindModelTensors<F, I>(
  exec: Pick<Executor<F, I>, "view">,
  layout: ModelLayout,
  arenas: { params: F; acts: F; weights16?: F; training?: { grads: F; m: F; v: F; gradActs: F } },
  tokens: { inputs: I; targets: I },
): ModelTensors<F, I> {
  const cut = (arena: F, plan: TensorPlan): Record<string, F> =>
    Object.fromEntries(plan.slots.map((slot) => [slot.name, exec.view(arena, slot.offset, slot.length)]));
  const whole = (arena: F, plan: TensorPlan): F => exec.view(arena, 0, plan.totalElements);
  const params = cut(arenas.params, layout.params) as Record<ParameterName, F>;
  for (const name of PARAMETER_NAMES) if (!params[name]) throw new Error(`parameter plan lacks ${name}`);
  const t = arenas.training;
  return {
    params,
    paramsArena: whole(arenas.params, layout.params),
    acts: cut(arenas.acts, layout.acts) as Record<ActivationName, F>,
    weights16: arenas.weights16 && {
      byName: cut(arenas.weights16, layout.params) as Record<ParameterName, F>,
      arena: whole(arenas.weights16, layout.params),
    },
    training: t && {
      grads: cut(t.grads, layout.params) as Record<ParameterName, F>,
      gradsArena: whole(t.grads, layout.params),
      mArena: whole(t.m, layout.params),
      vArena: whole(t.v, layout.params),
      gradActs: cut(t.gradActs, layout.gradActs) as Record<ActivationGradName, F>,
    },
    inputs: tokens.inputs,
    targets: tokens.targets,
  };
}
