/**
 * GPU launchers of the row-wise ops: layernorm forward/backward, the fused softmax + cross-entropy, and the
 * token/position encoder (whose backward groups positions by token on the host: see `BucketTables`).
 *
 * @module
 */
import { grid1d, gridRows, sumPartials } from "./_gemm.ts";
import { perBinding, ranges, rowsPerChunk } from "./_ops_dense.ts";
import {
  encoderBackwardWpeKernel,
  encoderBackwardWteKernel,
  encoderForwardKernel,
  layernormBackwardKernel,
  layernormForwardKernel,
  layernormParamPartialKernel,
  softmaxCrossEntropyBackwardKernel,
  softmaxCrossEntropyForwardKernel,
} from "./kernels.ts";
import type { GpuRuntime } from "./runtime.ts";
import { bindRange, type GpuArena, type GpuTensor } from "./tensor.ts";

type F = GpuTensor;

/** Per row: out = (x - mean)·rstd·weight + bias; mean, rstd saved. */
export function layernormForward(
  rt: GpuRuntime,
  b: { out: F; mean: F; rstd: F; inp: F; weight: F; bias: F },
  s: { N: number; C: number },
): void {
  const { N, C } = s;
  const L = rt.limits;
  for (const [n0, nc] of ranges(N, perBinding(rt, C, b.inp))) {
    rt.dispatch({
      kernel: layernormForwardKernel,
      bindings: [
        bindRange(b.out, n0 * C, nc * C, L),
        bindRange(b.mean, n0, nc, L),
        bindRange(b.rstd, n0, nc, L),
        bindRange(b.inp, n0 * C, nc * C, L),
        bindRange(b.weight, 0, C, L),
        bindRange(b.bias, 0, C, L),
      ],
      params: { N: nc, C },
      groups: gridRows(rt, nc),
    });
  }
}

/** dinp += input gradient; dweight += Σ dout·norm; dbias += Σ dout. */
export function layernormBackward(
  rt: GpuRuntime,
  b: { dinp: F; dweight: F; dbias: F; dout: F; inp: F; weight: F; mean: F; rstd: F },
  s: { N: number; C: number },
): void {
  const { N, C } = s;
  const L = rt.limits;
  for (const [n0, nc] of ranges(N, perBinding(rt, C, b.inp))) {
    rt.dispatch({
      kernel: layernormBackwardKernel,
      bindings: [
        bindRange(b.dinp, n0 * C, nc * C, L),
        bindRange(b.dout, n0 * C, nc * C, L),
        bindRange(b.inp, n0 * C, nc * C, L),
        bindRange(b.weight, 0, C, L),
        bindRange(b.mean, n0, nc, L),
        bindRange(b.rstd, n0, nc, L),
      ],
      params: { N: nc, C },
      groups: gridRows(rt, nc),
    });
    const R = rowsPerChunk(nc);
    const chunks = Math.ceil(nc / R);
    const partial = rt.scratch(chunks * 2 * C);
    rt.dispatch({
      kernel: layernormParamPartialKernel,
      bindings: [
        bindRange(partial, 0, chunks * 2 * C, L),
        bindRange(b.dout, n0 * C, nc * C, L),
        bindRange(b.inp, n0 * C, nc * C, L),
        bindRange(b.mean, n0, nc, L),
        bindRange(b.rstd, n0, nc, L),
      ],
      params: { N: nc, C, rows_per_chunk: R },
      groups: [Math.ceil(C / 64), chunks],
    });
    const stages = { partial, n: C, count: chunks, stride: 2 * C };
    sumPartials(rt, { out: b.dweight, outStart: 0, partialStart: 0, ...stages });
    sumPartials(rt, { out: b.dbias, outStart: 0, partialStart: C, ...stages });
  }
}

/** probs = softmax over the first V columns (padded columns 0); losses = -log probs[target]. */
export function softmaxCrossEntropyForward(
  rt: GpuRuntime,
  b: { losses: F; probs: F; logits: F; targets: F },
  s: { N: number; V: number; Vp: number },
): void {
  const { N, V, Vp } = s;
  const L = rt.limits;
  for (const [n0, nc] of ranges(N, perBinding(rt, Vp, b.logits))) {
    rt.dispatch({
      kernel: softmaxCrossEntropyForwardKernel,
      bindings: [
        bindRange(b.losses, n0, nc, L),
        bindRange(b.probs, n0 * Vp, nc * Vp, L),
        bindRange(b.logits, n0 * Vp, nc * Vp, L),
        bindRange(b.targets, n0, nc, L),
      ],
      params: { N: nc, V, Vp },
      groups: gridRows(rt, nc),
    });
  }
}

/** dlogits = (probs - onehot(targets))·dloss, padded columns 0. */
export function softmaxCrossEntropyBackward(
  rt: GpuRuntime,
  b: { dlogits: F; probs: F; targets: F },
  s: { N: number; V: number; Vp: number; dloss: number },
): void {
  const { N, V, Vp, dloss } = s;
  const L = rt.limits;
  for (const [n0, nc] of ranges(N, perBinding(rt, Vp, b.probs))) {
    rt.dispatch({
      kernel: softmaxCrossEntropyBackwardKernel,
      bindings: [
        bindRange(b.dlogits, n0 * Vp, nc * Vp, L),
        bindRange(b.probs, n0 * Vp, nc * Vp, L),
        bindRange(b.targets, n0, nc, L),
      ],
      params: { N: nc, V, Vp, dloss },
      groups: [grid1d(rt, nc * Vp)],
    });
  }
}

/** out = wte[inp] + wpe[t]; wte is bound in row ranges when it exceeds one binding. */
export function encoderForward(
  rt: GpuRuntime,
  b: { out: F; inp: F; wte: F; wpe: F },
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

/** dwte[inp] += dout (via the bucket table), dwpe[t] += Σ_b dout. */
export function encoderBackward(
  rt: GpuRuntime,
  tables: BucketTables,
  b: { dwte: F; dwpe: F; dout: F; inp: F },
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
