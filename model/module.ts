/**
 * Modules declare their tensors; the planner lays them out. A module (the embedding, a transformer block, the
 * head) states four kinds of tensor by name and shape:
 *
 * - `params`: learned weights; each automatically gets a gradient and AdamW m and v of the same shape;
 * - `acts`: what its forward pass saves for backward, one copy per instance;
 * - `shared`: forward scratch that every instance reuses (the attention scores), one copy in all;
 * - `grads`: the activation gradients of its backward pass, also one copy reused by every instance.
 *
 * `stack(L, block)` makes L instances: params and acts get a leading L (llm.c's `(L, …)` layout, so checkpoints keep
 * their order), shared and grads do not. `combine` joins modules in order (params in that order too); a shared or
 * grads name declared twice is one buffer. The planner turns the result into one arena plan per role, and `cut`
 * gives each instance its typed views: a misspelt tensor name fails type checking.
 *
 * @module
 */
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

/** A tensor shape, outermost dimension first. */
export type Shape = readonly number[];
/** Named shapes. */
export type Shapes = Readonly<Record<string, Shape>>;

/** What a module declares (see the module doc). */
export interface TensorDecls<
  P extends Shapes = Shapes,
  A extends Shapes = Shapes,
  S extends Shapes = Shapes,
  G extends Shapes = Shapes,
> {
  readonly params: P;
  readonly acts: A;
  readonly shared: S;
  readonly grads: G;
}

/** Declares a module's tensors; omitted kinds are empty. */
export function declare<
  const P extends Shapes = Record<never, Shape>,
  const A extends Shapes = Record<never, Shape>,
  const S extends Shapes = Record<never, Shape>,
  const G extends Shapes = Record<never, Shape>,
>(d: { params?: P; acts?: A; shared?: S; grads?: G }): TensorDecls<P, A, S, G> {
  return {
    params: d.params ?? ({} as P),
    acts: d.acts ?? ({} as A),
    shared: d.shared ?? ({} as S),
    grads: d.grads ?? ({} as G),
  };
}

/**
 * L instances of a module: params and acts get a leading dimension L; shared and grads stay one copy.
 *
 * @param L Number of instances (layers).
 * @param m The module.
 * @returns The stacked declarations.
 * @example
 * ```ts
 * import { declare, stack } from "./module.ts";
 * const s = stack(12, declare({ params: { w: [4, 4] }, shared: { scores: [8] } }));
 * if (s.params.w.join() !== "12,4,4" || s.shared.scores.join() !== "8") throw new Error("bad stack");
 * ```
 */
export function stack<P extends Shapes, A extends Shapes, S extends Shapes, G extends Shapes>(
  L: number,
  m: TensorDecls<P, A, S, G>,
): TensorDecls<P, A, S, G> {
  const lead = <T extends Shapes>(shapes: T) =>
    Object.fromEntries(Object.entries(shapes).map(([k, v]) => [k, [L, ...v]])) as unknown as T;
  return { params: lead(m.params), acts: lead(m.acts), shared: m.shared, grads: m.grads };
}

/** Joins modules in order. Params and acts must be unique; a shared or grads name may repeat with one shape. */
export function combine(...modules: TensorDecls[]): TensorDecls {
  const out = { params: {}, acts: {}, shared: {}, grads: {} } as Record<keyof TensorDecls, Record<string, Shape>>;
  for (const m of modules) {
    for (const kind of ["params", "acts", "shared", "grads"] as const) {
      for (const [name, shape] of Object.entries(m[kind])) {
        const seen = out[kind][name];
        const reusable = kind === "shared" || kind === "grads";
        if (seen && !(reusable && seen.join() === shape.join())) {
          throw new Error(`${kind} tensor '${name}' is declared twice (${seen} and ${shape})`);
        }
        out[kind][name] = shape;
      }
    }
  }
  return out;
}

/** The three arena plans of a module tree: parameters (also gradients, m, v), activations, activation gradients. */
export interface ModulePlan {
  params: TensorPlan;
  /** acts, then shared. */
  acts: TensorPlan;
  grads: TensorPlan;
}

/**
 * Lays out every tensor of `m`, each start aligned to `alignElements`.
 *
 * @param m The whole model's declarations.
 * @param alignElements Alignment in elements (CPU 16, GPU 64).
 * @returns One plan per arena.
 */
export function planModule(m: TensorDecls, alignElements: number): ModulePlan {
  const specs = (shapes: Shapes): TensorSpec[] =>
    Object.entries(shapes).map(([name, shape]) => ({ name, shape: [...shape], dtype: "f32" }));
  return {
    params: planTensors(specs(m.params), alignElements),
    acts: planTensors([...specs(m.acts), ...specs(m.shared)], alignElements),
    grads: planTensors(specs(m.grads), alignElements),
  };
}

/**
 * Views of one instance of a module: for each name, the slice of the tensor `whole[name]` that instance `index` of
 * `count` owns (the whole tensor when `count` is 1, or for shared and grads tensors).
 *
 * @param view The backend's view function.
 * @param whole The model's tensors by name.
 * @param names The names to cut (a module's declared keys).
 * @param index Which instance.
 * @param count How many instances share the leading dimension (1: not stacked).
 * @returns Typed views by name.
 */
export function cut<F, K extends string>(
  view: (t: F, offset: number, length: number) => F,
  whole: Readonly<Record<string, F>>,
  names: readonly K[],
  lengths: ReadonlyMap<string, number>,
  index = 0,
  count = 1,
): Record<K, F> {
  const out = {} as Record<K, F>;
  for (const name of names) {
    const t = whole[name];
    const length = lengths.get(name);
    if (t === undefined || length === undefined) throw new Error(`no planned tensor '${name}'`);
    const per = length / count;
    out[name] = view(t, index * per, per);
  }
  return out;
}

/** The keys of a declaration record, typed. */
export function namesOf<K extends string>(shapes: Readonly<Record<K, Shape>>): K[] {
  return Object.keys(shapes) as K[];
}
