/**
 * The kernel module's exported functions, declared once: each one's parameter names (the i32 ones, then the f32
 * ones) and result. The generators make these functions with {@link exportFn}, which numbers the parameters
 * from here; `buildKernelModule` checks that the module exports each exactly once with this signature; and
 * {@link KernelExports}, the type of an instance's exports, is derived from here. Pointers and strides are in
 * bytes unless noted; each generator's comment says what its function computes.
 *
 * @module
 */
import { F32, F64, Fn, I32, type ValType } from "./encoder.ts";

/** Names numbered in order of the list: what each number of a parameter list holds. */
export type Slots<N extends readonly string[]> = { readonly [K in N[number]]: number };

/**
 * Numbers names in order, so that a table of named slots is written once, as a list.
 *
 * @param names Distinct names.
 * @returns Each name's index in `names`.
 * @example
 * ```ts
 * import { slots } from "./exports.ts";
 * const s = slots(["out", "inp", "n"]);
 * if (s.out !== 0 || s.n !== 2) throw new Error("numbered in order");
 * ```
 */
export function slots<const N extends readonly string[]>(names: N): Slots<N> {
  const s: Record<string, number> = {};
  names.forEach((name, i) => {
    if (Object.hasOwn(s, name)) throw new Error(`Slot name "${name}" is listed twice in [${names.join(", ")}]`);
    s[name] = i;
  });
  return Object.freeze(s) as Slots<N>;
}

/** An exported function's parameters (i32 first, then f32) and result (none if absent). */
interface Signature {
  readonly i32: readonly string[];
  readonly f32?: readonly string[];
  readonly result?: typeof F32 | typeof F64;
}

/** The exported kernels (ldo of `mm_nt` is in floats). */
export const EXPORTS = {
  mm_nt: { i32: ["out", "inp", "w", "bias", "hasBias", "rows", "cols", "C", "ldo"] },
  gemm: { i32: ["c", "ldc", "a", "sar", "sak", "aPacked", "b", "ldb", "rows", "cols", "K", "init"] },
  colsum: { i32: ["dst", "src", "lds", "rows", "cols"] },
  attn_fwd: { i32: ["out", "preatt", "att", "inp", "T", "C", "hs"], f32: ["scale"] },
  attn_bwd: { i32: ["dinp", "dpreatt", "datt", "dout", "inp", "att", "T", "C", "hs"], f32: ["scale"] },
  adamw: {
    i32: ["params", "grads", "m", "v", "n"],
    f32: ["learningRate", "beta1", "beta2", "eps", "weightDecay", "mCorrection", "vCorrection", "gradScale"],
  },
  sumsq: { i32: ["x", "n"], result: F64 },
  gelu_fwd: { i32: ["out", "inp", "n"] },
  gelu_bwd: { i32: ["dinp", "inp", "dout", "n"] },
  rowmax: { i32: ["x", "n"], result: F32 },
  expsum_row: { i32: ["x", "n"], f32: ["max"], result: F64 },
  xent_bwd_row: { i32: ["x", "V", "Vp", "target"], f32: ["lse", "dloss"] },
} as const satisfies Record<string, Signature>;

/** The name of an exported kernel. */
export type KernelName = keyof typeof EXPORTS;

type F32Names<S> = S extends { readonly f32: infer F extends readonly string[] } ? F : [];
type Names<K extends KernelName> = readonly [...(typeof EXPORTS)[K]["i32"], ...F32Names<(typeof EXPORTS)[K]>];
type Numbers<T extends readonly unknown[]> = { -readonly [I in keyof T]: number };
type Call<K extends KernelName> = (
  ...args: Numbers<Names<K>>
) => (typeof EXPORTS)[K] extends { readonly result: ValType } ? number : void;

/** What the kernel module exports, as {@link EXPORTS} declares it. */
export type KernelExports = { readonly [K in KernelName]: Call<K> };

// The parameter and result types of a signature.
function types(s: Signature): { params: ValType[]; results: ValType[] } {
  const params = [...s.i32.map((): ValType => I32), ...(s.f32 ?? []).map((): ValType => F32)];
  return { params, results: s.result === undefined ? [] : [s.result] };
}

/**
 * Starts the body of the exported function `name`.
 * @returns The function, and its parameters' local indices by name.
 */
export function exportFn<K extends KernelName>(name: K): [Fn, Slots<Names<K>>] {
  const s: Signature = EXPORTS[name];
  const { params, results } = types(s);
  return [new Fn(name, params, results), slots([...s.i32, ...(s.f32 ?? [])]) as Slots<Names<K>>];
}

/** Throws unless `fns` holds each kernel of {@link EXPORTS} once, with its declared signature. */
export function checkExports(fns: readonly Fn[]): void {
  for (const [name, s] of Object.entries(EXPORTS) as [KernelName, Signature][]) {
    const found = fns.filter((f) => f.name === name);
    if (found.length !== 1) throw new Error(`The kernel module defines ${name} ${found.length} times, not once`);
    const want = JSON.stringify(types(s)), got = JSON.stringify({ params: found[0].params, results: found[0].results });
    if (got !== want) throw new Error(`Kernel ${name} has signature ${got}; cpu/wasm/exports.ts declares ${want}`);
  }
}
