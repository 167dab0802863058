/**
 * Kernel descriptors: what the runtime needs to know about a WGSL file to build its pipeline and bind its buffers.
 *
 * Every kernel follows one convention, checked by `tests/gpu/kernels_test.ts`:
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
}

/** Values for a kernel's `override` constants; missing ones keep their defaults. */
export type OverrideValues = Readonly<Record<string, number | boolean>>;

/** Bytes of one `Params` uniform: 4 per field (bases and params), rounded up to WGSL's 16-byte struct alignment. */
export function paramsByteSize(k: KernelDescriptor): number {
  const fields = k.storage.length + Object.keys(k.params).length;
  return Math.ceil((4 * fields) / 16) * 16;
}

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
  for (const [field, type] of Object.entries(k.params)) {
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
