/**
 * The encoder backward's token buckets: host-side tables that group the positions of a token tensor by token, so
 * that `dwte` is accumulated deterministically without atomics.
 *
 * @module
 */
import type { GpuRuntime } from "./runtime.ts";
import type { GpuArena, GpuTensor } from "./tensor.ts";

/**
 * Host-side tables grouping the positions of a token tensor by token, for a deterministic encoder backward without
 * atomics (see `kernels/encoder_backward_wte.wgsl` for the layout). A table is made the first time a token view is
 * used by `encoderBackward` and rebuilt whenever host tokens are written over it.
 */
export class BucketTables {
  readonly #rt: GpuRuntime;
  readonly #tables: { inp: GpuTensor; table: GpuTensor }[] = [];

  /** @param rt The runtime (tables are small i32 arenas of 1 + 4·n elements). */
  constructor(rt: GpuRuntime) {
    this.#rt = rt;
  }

  /** The table of token view `inp`, made from the tokens last written to its arena. */
  tableFor(inp: GpuTensor): GpuTensor {
    const found = this.#tables.find((e) => e.inp.arena === inp.arena && e.inp.offset === inp.offset);
    if (found && found.inp.length === inp.length) return found.table;
    const host = inp.arena.host;
    if (!host) throw new Error("encoderBackward: the token tensor was never written from the host with writeInt");
    const length = 1 + 4 * inp.length;
    const table: GpuTensor = { arena: this.#rt.createArena("token buckets", "i32", length), offset: 0, length };
    this.#tables.push({ inp, table });
    this.#rt.write(table, buildBuckets(host.subarray(inp.offset, inp.offset + inp.length)));
    return table;
  }

  /** Rebuilds the tables over `arena` after host tokens were written to it (call after the write). */
  refresh(arena: GpuArena): void {
    const host = arena.host!;
    for (const { inp, table } of this.#tables) {
      if (inp.arena === arena) this.#rt.write(table, buildBuckets(host.subarray(inp.offset, inp.offset + inp.length)));
    }
  }
}

/**
 * Groups positions by token: [U, (token, first, count) × U, unused × (n - U), positions sorted by (token, n)].
 *
 * @param tokens The n token ids.
 * @returns The table, 1 + 4n int32.
 */
export function buildBuckets(tokens: Int32Array): Int32Array {
  const n = tokens.length;
  const keys = new Float64Array(n);
  for (let i = 0; i < n; i++) keys[i] = tokens[i] * n + i; // exact in float64; sorts by (token, position)
  keys.sort();
  const out = new Int32Array(1 + 4 * n);
  let used = 0;
  let previous = -1;
  for (let k = 0; k < n; k++) {
    const token = Math.floor(keys[k] / n);
    if (token !== previous) {
      out[1 + 3 * used] = token;
      out[2 + 3 * used] = k;
      used++;
      previous = token;
    }
    out[3 * used]++; // count of the current bucket (index 3 + 3·(used - 1))
    out[1 + 3 * n + k] = keys[k] - token * n;
  }
  out[0] = used;
  return out;
}
