/**
 * Kernel descriptors: what the runtime needs to know about a WGSL file to build its pipeline and bind its buffers.
 *
 * Every kernel follows one convention, which `wgslKernel` reads its descriptor from (and `tests/gpu/kernels_test.ts`
 * checks further):
 * - one entry point, named like the file (`kernels/layernorm_forward.wgsl` has `fn layernorm_forward`);
 * - `@binding(0)` is `var<uniform> p: Params`; the storage buffers follow at bindings 1, 2, … in `storage` order;
 * - `struct Params` starts with one `u32` `<binding>_base` per storage buffer (the element offset of the tensor
 *   inside the bound range, since per-layer views start at offsets a binding cannot), then the fields of `params`
 *   in order;
 * - sizes that vary per model are `Params` fields; workgroup sizes and code variants are `override` constants.
 *
 * @module
 */

/** Scalar type of a `Params` field. */
export type ParamType = "u32" | "i32" | "f32";

/** Access mode of a storage binding, as declared in WGSL. */
export type StorageAccess = "read" | "read_write";

/** A WGSL compute kernel and its interface. */
export interface KernelDescriptor {
  /** Entry point, equal to the file name without `.wgsl`. */
  readonly name: string;
  /** The WGSL source (imported as text). */
  readonly source: string;
  /** Storage bindings in binding order (binding 1, 2, …), with their WGSL access mode. */
  readonly storage: readonly { readonly name: string; readonly access: StorageAccess }[];
  /** The `Params` fields after the per-binding bases, in declaration order. */
  readonly params: Readonly<Record<string, ParamType>>;
  /** The `override` constants and their defaults (the values the WGSL declares). */
  readonly overrides: Readonly<Record<string, number | boolean>>;
  /**
   * Elements each thread of a 1-D grid-stride kernel takes per step of its loop (`const PER_THREAD: u32 = …u;` in
   * the source, 1 without): `dispatchElementwise` launches a thread per that many elements.
   */
  readonly perThread: number;
  /**
   * Whether the source calls subgroup builtins: the subgroup form of a kernel whose workgroup-memory twin has the
   * same name, compiled only where the device has `subgroups` (with the device's `subgroupPreamble` first).
   */
  readonly subgroups: boolean;
  /**
   * Whether the source computes in native f16 (it starts with `enable f16;`): compiled only where the device has
   * `shader-f16`.
   */
  readonly f16: boolean;
  /**
   * A form of the same file with other shared declarations appended (e.g. "f16 weights": matmul.wgsl reading B as
   * packed halves); undefined for the plain form.
   */
  readonly variant?: string;
}

/** Values for a kernel's `override` constants; missing ones keep their defaults. */
export type OverrideValues = Readonly<Record<string, number | boolean>>;

/** Bytes of one `Params` uniform: 4 per field (bases and params), rounded up to WGSL's 16-byte struct alignment. */
export function paramsByteSize(k: KernelDescriptor): number {
  const fields = k.storage.length + Object.keys(k.params).length;
  return Math.ceil((4 * fields) / 16) * 16;
}

/** `Object.entries` of each kernel's `params`, made once (`packParams` runs for every dispatch). */
const PARAM_FIELDS = new WeakMap<KernelDescriptor, [string, ParamType][]>();

/**
 * Writes a kernel's `Params` into `view` at `byteOffset`: the binding bases, then `values` in `params` order.
 *
 * @param k The kernel.
 * @param view Destination.
 * @param byteOffset Where the struct starts.
 * @param bases Element offset of each storage binding's tensor inside its bound range.
 * @param values One number per `params` field.
 */
export function packParams(
  k: KernelDescriptor,
  view: DataView,
  byteOffset: number,
  bases: readonly number[],
  values: Readonly<Record<string, number>>,
): void {
  let at = byteOffset;
  for (const base of bases) {
    view.setUint32(at, base, true);
    at += 4;
  }
  let fields = PARAM_FIELDS.get(k);
  if (!fields) PARAM_FIELDS.set(k, fields = Object.entries(k.params));
  for (const [field, type] of fields) {
    const value = values[field];
    if (value === undefined) throw new Error(`${k.name}: missing parameter ${field}`);
    if (type === "f32") view.setFloat32(at, value, true);
    else if (type === "i32") view.setInt32(at, value, true);
    else {
      if (!(value >= 0 && value <= 0xffffffff && Number.isInteger(value))) {
        throw new RangeError(`${k.name}: parameter ${field} = ${value} is not a u32`);
      }
      view.setUint32(at, value, true);
    }
    at += 4;
  }
}

/**
 * Every descriptor made by `wgslKernel`, by name; a variant or subgroup form as "name (variant, subgroups)" (tests
 * compile them all).
 */
export const KERNELS: Map<string, KernelDescriptor> = new Map();

/**
 * The descriptor of a WGSL kernel, read from its source: the entry point's name, the storage bindings in binding
 * order with their access, the `Params` fields after the per-binding bases, and the `override` defaults.
 *
 * @param source The WGSL (a `kernels/*.wgsl` file, possibly followed by shared `kernels/_*.wgsl` declarations).
 * @param options `variant`: names a form of the file made with other shared declarations (its `KERNELS` key).
 * @returns The descriptor, also recorded in `KERNELS`.
 * @throws Error when the source breaks the convention (no single entry point, bases out of order…).
 * @example
 * ```ts
 * import { wgslKernel } from "./kernel.ts";
 * const k = wgslKernel(`
 * struct Params { out_base: u32, n: u32, }
 * @group(0) @binding(0) var<uniform> p: Params;
 * @group(0) @binding(1) var<storage, read_write> out: array<f32>;
 * override WG: u32 = 64;
 * @compute @workgroup_size(WG) fn fill_one(@builtin(global_invocation_id) id: vec3u) { out[id.x] = 1.0; }`);
 * if (k.name !== "fill_one" || k.storage[0].access !== "read_write" || k.params.n !== "u32" || k.overrides.WG !== 64) {
 *   throw new Error("misread");
 * }
 * ```
 */
export function wgslKernel(source: string, options: { variant?: string } = {}): KernelDescriptor {
  const entries = [...source.matchAll(/@compute[^]*?fn (\w+)\s*\(/g)].map((m) => m[1]);
  if (entries.length !== 1) throw new Error(`A kernel needs exactly one @compute entry point, found ${entries}`);
  const name = entries[0];
  const fail = (what: string) => new Error(`${name}.wgsl: ${what}`);
  const storage = [...source.matchAll(/@group\(0\) @binding\((\d+)\) var<storage, (read|read_write)> (\w+)/g)]
    .map((m) => ({ binding: Number(m[1]), access: m[2] as StorageAccess, name: m[3] }))
    .sort((a, b) => a.binding - b.binding);
  storage.forEach((s, i) => {
    if (s.binding !== i + 1) throw fail(`storage bindings must be 1, 2, …; found ${s.binding} at place ${i + 1}`);
  });
  const struct = /struct Params \{([^}]*)\}/.exec(source);
  if (!struct) throw fail("no struct Params");
  const fields = [...struct[1].matchAll(/(\w+):\s*(\w+)/g)].map((m) => [m[1], m[2]] as const);
  storage.forEach((s, i) => {
    if (fields[i]?.[0] !== `${s.name}_base`) throw fail(`Params field ${i} must be ${s.name}_base`);
  });
  const params: Record<string, ParamType> = {};
  for (const [field, type] of fields.slice(storage.length)) {
    if (type !== "u32" && type !== "i32" && type !== "f32") throw fail(`Params.${field} has type ${type}`);
    params[field] = type;
  }
  const overrides: Record<string, number | boolean> = {};
  for (const m of source.matchAll(/override (\w+): (\w+) = ([\w.]+);/g)) {
    overrides[m[1]] = m[2] === "bool" ? m[3] === "true" : Number(m[3].replace(/[uif]$/, ""));
  }
  const perThread = Number(/const PER_THREAD: u32 = (\d+)u;/.exec(source)?.[1] ?? 1);
  const subgroups = /\bsubgroup[A-Z]\w*\s*\(|@builtin\(subgroup_(size|invocation_id)\)/.test(source);
  const kernel: KernelDescriptor = {
    name,
    source,
    storage: storage.map(({ name, access }) => ({ name, access })),
    params,
    overrides,
    perThread,
    subgroups,
    f16: /^\s*enable f16;/.test(source),
    ...(options.variant ? { variant: options.variant } : {}),
  };
  const forms = [options.variant, subgroups ? "subgroups" : undefined].filter(Boolean);
  KERNELS.set(forms.length ? `${name} (${forms.join(", ")})` : name, kernel);
  return kernel;
}
