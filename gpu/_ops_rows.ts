/**
 * GPU launchers of the row-wise ops: layernorm forward/backward, the fused softmax + cross-entropy, and the
 * token/position encoder (whose backward groups positions by token on the host: see `BucketTables`).
 *
 * @module
 */
import { grid1d, gridRows, perBinding, ranges, rowsPerChunk, sumPartials } from "./dispatch.ts";
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
import type { BucketTables } from "./_buckets.ts";
import { bindRange, type GpuTensor } from "./tensor.ts";

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
