/**
 * Token + position embedding, the first layer of GPT-2: each position's vector is the sum of its token's row of
 * `wte` and its position's row of `wpe`.
 *
 * Forms: `cpu` is the scalar reference below (the CPU backend runs it too: there is no WebAssembly form); `gpu`
 * runs the forward as a grid-stride loop over the outputs (`kernels/encoder_forward.wgsl`) and the backward without
 * atomics: `dwte` per distinct token over positions grouped by token on the host (`BucketTables`,
 * `kernels/encoder_backward_wte.wgsl`), `dwpe` per position summed in batch order
 * (`kernels/encoder_backward_wpe.wgsl`).
 *
 * @module
 */
import { grid1d, perBinding, ranges } from "../gpu/dispatch.ts";
import { wgslKernel } from "../gpu/kernel.ts";
import type { GpuRuntime } from "../gpu/runtime.ts";
import { bindRange, type GpuArena, type GpuTensor } from "../gpu/tensor.ts";
import encoderForwardSrc from "../kernels/encoder_forward.wgsl" with { type: "text" };
import encoderBackwardWteSrc from "../kernels/encoder_backward_wte.wgsl" with { type: "text" };
import encoderBackwardWpeSrc from "../kernels/encoder_backward_wpe.wgsl" with { type: "text" };
import { type BufferSpec, type CpuBuffers, defineOp, type GpuBuffers } from "./_op.ts";

/** Encoder forward: out (B,T,C) written from the tokens inp (B,T) and wte (Vp,C), wpe (maxT,C). */
export const ENCODER_FORWARD = { out: "f32", inp: "i32", wte: "f32", wpe: "f32" } as const satisfies BufferSpec;
/** Encoder backward: dwte (Vp,C) and dwpe (maxT,C) accumulated from dout (B,T,C) at the tokens inp (B,T). */
export const ENCODER_BACKWARD = { dwte: "f32", dwpe: "f32", dout: "f32", inp: "i32" } as const satisfies BufferSpec;

/** Token + position embedding. */
const encoderForwardKernel = wgslKernel(encoderForwardSrc);
/** dwte += bucketed sums of dout. */
const encoderBackwardWteKernel = wgslKernel(encoderBackwardWteSrc);
/** dwpe += Σ_b dout. */
const encoderBackwardWpeKernel = wgslKernel(encoderBackwardWpeSrc);

/**
 * out (B,T,C) = wte[inp[b,t]] + wpe[t]. Token ids must be < the number of rows of `wte` (the model checks them).
 *
 * @param b `out` (B,T,C) written; `inp` (B,T) token ids; `wte` (Vp,C); `wpe` (maxT,C).
 * @param s Sizes B, T, C.
 * @example
 * ```ts
 * import { encoderForward } from "./encoder.ts";
 * const out = new Float32Array(2);
 * encoderForward({ out, inp: new Int32Array([1]), wte: new Float32Array([0, 0, 1, 2]), wpe: new Float32Array([10, 20]) },
 *   { B: 1, T: 1, C: 2 });
 * if (out[0] !== 11 || out[1] !== 22) throw new Error("wrong embedding");
 * ```
 */
export function encoderForward(
  b: CpuBuffers<typeof ENCODER_FORWARD>,
  s: { B: number; T: number; C: number },
): void {
  const { out, inp, wte, wpe } = b;
  const { B, T, C } = s;
  for (let bt = 0; bt < B * T; bt++) {
    const outRow = bt * C;
    const tokenRow = inp[bt] * C;
    const positionRow = (bt % T) * C;
    for (let c = 0; c < C; c++) out[outRow + c] = wte[tokenRow + c] + wpe[positionRow + c];
  }
}

/**
 * Scatters the output gradient back into the embedding tables: dwte[inp[b,t]] += dout[b,t] and dwpe[t] += dout[b,t]
 * (parameter gradients accumulate).
 *
 * @param b `dwte` (Vp,C) and `dwpe` (maxT,C) accumulated; `dout` (B,T,C); `inp` (B,T) token ids.
 * @param s Sizes B, T, C.
 * @example
 * ```ts
 * import { encoderBackward } from "./encoder.ts";
 * const dwte = new Float32Array(4), dwpe = new Float32Array(2);
 * encoderBackward({ dwte, dwpe, dout: new Float32Array([1, 2, 3, 4]), inp: new Int32Array([1, 1]) }, { B: 2, T: 1, C: 2 });
 * if (dwte[2] !== 4 || dwpe[1] !== 6) throw new Error("wrong scatter");
 * ```
 */
export function encoderBackward(
  b: CpuBuffers<typeof ENCODER_BACKWARD>,
  s: { B: number; T: number; C: number },
): void {
  const { dwte, dwpe, dout, inp } = b;
  const { B, T, C } = s;
  for (let bt = 0; bt < B * T; bt++) {
    const doutRow = bt * C;
    const tokenRow = inp[bt] * C;
    const positionRow = (bt % T) * C;
    for (let c = 0; c < C; c++) {
      const d = dout[doutRow + c];
      dwte[tokenRow + c] += d;
      dwpe[positionRow + c] += d;
    }
  }
}

type F = GpuTensor;

/** GPU form of `encoderForward`. out = wte[inp] + wpe[t]; wte is bound in row ranges when it exceeds one binding. */
function encoderForwardGpu(
  rt: GpuRuntime,
  b: GpuBuffers<typeof ENCODER_FORWARD>,
  s: { B: number; T: number; C: number },
): void {
  const { B, T, C } = s;
  const N = B * T;
  const L = rt.limits;
  const rows = b.wte.length / C;
  for (const [v0, vc] of ranges(rows, perBinding(rt, C, b.wte))) {
    rt.dispatch({
      kernel: encoderForwardKernel,
      bindings: [
        bindRange(b.out, 0, N * C, L),
        bindRange(b.inp, 0, N, L),
        bindRange(b.wte, v0 * C, vc * C, L),
        bindRange(b.wpe, 0, T * C, L),
      ],
      params: { N, T, C, v0, v1: v0 + vc },
      groups: [grid1d(rt, N * C)],
    });
  }
}

/** GPU form of `encoderBackward`. dwte[inp] += dout (via the bucket table), dwpe[t] += Σ_b dout. */
function encoderBackwardGpu(
  rt: GpuRuntime,
  tables: BucketTables,
  b: GpuBuffers<typeof ENCODER_BACKWARD>,
  s: { B: number; T: number; C: number },
): void {
  const { B, T, C } = s;
  const N = B * T;
  const L = rt.limits;
  const table = tables.tableFor(b.inp);
  const rows = b.dwte.length / C;
  for (const [v0, vc] of ranges(rows, perBinding(rt, C, b.dwte))) {
    rt.dispatch({
      kernel: encoderBackwardWteKernel,
      bindings: [
        bindRange(b.dwte, v0 * C, vc * C, L),
        bindRange(b.dout, 0, N * C, L),
        bindRange(table, 0, table.length, L),
      ],
      params: { cap: N, C, v0, v1: v0 + vc },
      groups: [grid1d(rt, N * C)],
    });
  }
  rt.dispatch({
    kernel: encoderBackwardWpeKernel,
    bindings: [bindRange(b.dwpe, 0, T * C, L), bindRange(b.dout, 0, N * C, L)],
    params: { B, T, C },
    groups: [grid1d(rt, T * C)],
  });
}

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
 * @example
 * ```ts
 * import { buildBuckets } from "./encoder.ts";
 * // Token 3 at position 1; token 5 at positions 0 and 2.
 * const table = buildBuckets(new Int32Array([5, 3, 5]));
 * if (table.join() !== "2,3,0,1,5,1,2,0,0,0,1,0,2") throw new Error(`wrong buckets ${table}`);
 * ```
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

/** The token + position encoder as op records. */
export const encoder = {
  forward: defineOp({
    name: "encoderForward",
    buffers: ENCODER_FORWARD,
    cpu: encoderForward,
    gpu: (g, b, s) => encoderForwardGpu(g.rt, b, s),
    work: (s) => ({ bytes: 4 * 3 * s.B * s.T * s.C }),
  }),
  backward: defineOp({
    name: "encoderBackward",
    buffers: ENCODER_BACKWARD,
    cpu: encoderBackward,
    gpu: (g, b, s) => encoderBackwardGpu(g.rt, g.tables, b, s),
    work: (s) => ({ bytes: 4 * 4 * s.B * s.T * s.C }),
  }),
};
