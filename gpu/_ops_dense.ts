/**
 * GPU launchers of the dense ops: matmul forward/backward and causal attention forward/backward, all on the one
 * tiled SGEMM (`_gemm.ts`) plus small row kernels. Operands larger than one storage binding (GPT-2's wte on a
 * 128 MiB-binding adapter; the logits of a large batch) are cut into row or column ranges, each its own dispatch.
 *
 * @module
 */
import { gemm, gemmAccumulate, type GemmOptions } from "./_gemm.ts";
import { gridRows, perBinding, ranges, rowsPerChunk, sumPartials } from "./dispatch.ts";
import { attentionSoftmaxBackwardKernel, attentionSoftmaxForwardKernel, colsumPartialKernel } from "./kernels.ts";
import type { GpuRuntime } from "./runtime.ts";
import { bindRange, type GpuTensor } from "./tensor.ts";

type F = GpuTensor;

/** out (N,OC) = inp (N,C) · weight (OC,C)ᵀ + bias. */
export function matmulForward(
  rt: GpuRuntime,
  b: { out: F; inp: F; weight: F; bias?: F },
  s: { N: number; C: number; OC: number },
  opts: GemmOptions,
): void {
  const { N, C, OC } = s;
  const nStep = perBinding(rt, Math.max(C, OC), b.out);
  const oStep = Math.min(OC, perBinding(rt, C, b.weight));
  for (const [n0, nc] of ranges(N, nStep)) {
    for (const [o0, oc] of ranges(OC, oStep)) {
      gemm(rt, {
        M: nc,
        N: oc,
        K: C,
        a: { t: b.inp, start: n0 * C, sm: C, sk: 1 },
        b: { t: b.weight, start: o0 * C, sk: 1, sn: C },
        c: { t: b.out, start: n0 * OC + o0, sm: OC },
        bias: b.bias ? { t: b.bias, start: o0 } : undefined,
      }, opts);
    }
  }
}

/** dinp = dout · weight; dweight += doutᵀ · inp; dbias += Σ_rows dout. */
export function matmulBackward(
  rt: GpuRuntime,
  b: { dinp: F; dweight: F; dbias?: F; dout: F; inp: F; weight: F },
  s: { N: number; C: number; OC: number },
  opts: GemmOptions,
): void {
  const { N, C, OC } = s;
  const nStep = perBinding(rt, Math.max(C, OC), b.dout);
  const oStep = Math.min(OC, perBinding(rt, C, b.weight));
  for (const [n0, nc] of ranges(N, nStep)) {
    // dinp rows n0… = Σ over OC ranges of dout[n0…, o0…] · weight[o0…]; the first range writes, later ones add.
    for (const [o0, oc] of ranges(OC, oStep)) {
      const product = {
        M: nc,
        N: C,
        K: oc,
        a: { t: b.dout, start: n0 * OC + o0, sm: OC, sk: 1 },
        b: { t: b.weight, start: o0 * C, sk: C, sn: 1 },
        c: { t: b.dinp, start: n0 * C, sm: C },
      };
      rt.group("dinp", { flops: 2 * nc * C * oc }, () => {
        if (o0 === 0) gemm(rt, product, opts);
        else gemmAccumulate(rt, product, opts, false);
      });
    }
  }
  for (const [o0, oc] of ranges(OC, oStep)) {
    for (const [n0, nc] of ranges(N, nStep)) {
      const product = {
        M: oc,
        N: C,
        K: nc,
        a: { t: b.dout, start: n0 * OC + o0, sm: 1, sk: OC },
        b: { t: b.inp, start: n0 * C, sk: C, sn: 1 },
        c: { t: b.dweight, start: o0 * C, sm: C },
      };
      rt.group("dweight", { flops: 2 * nc * C * oc }, () => gemmAccumulate(rt, product, opts));
    }
  }
  if (b.dbias) {
    const dbias = b.dbias;
    rt.group("dbias", { bytes: 4 * N * OC }, () => {
      for (const [n0, nc] of ranges(N, nStep)) {
        columnSum(rt, { out: dbias, x: b.dout, start: n0 * OC, rows: nc, W: OC });
      }
    });
  }
}

/** out (W) += Σ over `rows` rows of x (row stride W, from element `start`), in two deterministic stages. */
function columnSum(rt: GpuRuntime, o: { out: F; x: F; start: number; rows: number; W: number }): void {
  const R = rowsPerChunk(o.rows);
  const chunks = Math.ceil(o.rows / R);
  const partial = rt.scratch(chunks * o.W);
  rt.dispatch({
    kernel: colsumPartialKernel,
    bindings: [bindRange(partial, 0, chunks * o.W, rt.limits), bindRange(o.x, o.start, o.rows * o.W, rt.limits)],
    params: { rows: o.rows, W: o.W, sx: o.W, rows_per_chunk: R },
    groups: [Math.ceil(o.W / 64), chunks],
  });
  sumPartials(rt, { out: o.out, outStart: 0, partial, partialStart: 0, n: o.W, count: chunks, stride: o.W });
}

/** Batches per dispatch group so the (b, NH, T, T) and (b, T, 3C) ranges fit one binding. */
function batchStep(rt: GpuRuntime, s: { T: number; C: number; NH: number }, t: GpuTensor): number {
  return perBinding(rt, Math.max(s.NH * s.T * s.T, 3 * s.T * s.C), t);
}

/**
 * Causal attention forward: preatt = q·kᵀ/√hs (lower triangle), att = softmax (zeros above the diagonal),
 * out = att · v, per (batch, head), with q, k, v read in place from qkv (B,T,3C).
 */
export function attentionForward(
  rt: GpuRuntime,
  b: { out: F; preatt: F; att: F; inp: F },
  s: { B: number; T: number; C: number; NH: number },
  opts: GemmOptions,
): void {
  const { B, T, C, NH } = s;
  const hs = C / NH;
  const C3 = 3 * C;
  const TT = T * T;
  for (const [b0, bc] of ranges(B, batchStep(rt, s, b.att))) {
    const batch = { outer: bc, inner: NH };
    const qkv = b0 * T * C3;
    const sq = b0 * NH * TT;
    const product = { flops: bc * NH * TT * hs }; // one causal T×T×hs product: half of 2·T·T·hs per head
    const rows = bc * NH * T;
    rt.group("q·kᵀ", product, () =>
      gemm(rt, {
        M: T,
        N: T,
        K: hs,
        batch,
        a: { t: b.inp, start: qkv, sm: C3, sk: 1, so: T * C3, si: hs },
        b: { t: b.inp, start: qkv + C, sk: 1, sn: C3, so: T * C3, si: hs },
        c: { t: b.preatt, start: sq, sm: T, so: NH * TT, si: TT },
        alpha: 1 / Math.sqrt(hs),
        causal: 1,
      }, opts));
    rt.group("softmax", { bytes: 4 * 2 * rows * T }, () =>
      rt.dispatch({
        kernel: attentionSoftmaxForwardKernel,
        bindings: [bindRange(b.att, sq, rows * T, rt.limits), bindRange(b.preatt, sq, rows * T, rt.limits)],
        params: { rows, T },
        groups: gridRows(rt, rows),
      }));
    rt.group("att·v", product, () =>
      gemm(rt, {
        M: T,
        N: hs,
        K: T,
        batch,
        a: { t: b.att, start: sq, sm: T, sk: 1, so: NH * TT, si: TT },
        b: { t: b.inp, start: qkv + 2 * C, sk: C3, sn: 1, so: T * C3, si: hs },
        c: { t: b.out, start: b0 * T * C, sm: C, so: T * C, si: hs },
        causal: 2,
      }, opts));
  }
}

/**
 * Causal attention backward: datt = dout·vᵀ, dv = attᵀ·dout, dpreatt = softmax backward, dq = dpreatt·k/√hs,
 * dk = dpreattᵀ·q/√hs, written into dinp (B,T,3C) in place of q, k, v.
 */
export function attentionBackward(
  rt: GpuRuntime,
  b: { dinp: F; dpreatt: F; datt: F; dout: F; inp: F; att: F },
  s: { B: number; T: number; C: number; NH: number },
  opts: GemmOptions,
): void {
  const { B, T, C, NH } = s;
  const hs = C / NH;
  const C3 = 3 * C;
  const TT = T * T;
  const scale = 1 / Math.sqrt(hs);
  for (const [b0, bc] of ranges(B, batchStep(rt, s, b.att))) {
    const batch = { outer: bc, inner: NH };
    const qkv = b0 * T * C3;
    const sq = b0 * NH * TT;
    const dy = b0 * T * C;
    const scores = { sm: T, so: NH * TT, si: TT };
    const scoresT = { sm: 1, sk: T, so: NH * TT, si: TT }; // (t2, t) view of a (t, t2) matrix
    const product = { flops: bc * NH * TT * hs }; // one causal T×T×hs product
    const rows = bc * NH * T;
    rt.group("dout·vᵀ", product, () =>
      gemm(rt, {
        M: T,
        N: T,
        K: hs,
        batch,
        a: { t: b.dout, start: dy, sm: C, sk: 1, so: T * C, si: hs },
        b: { t: b.inp, start: qkv + 2 * C, sk: 1, sn: C3, so: T * C3, si: hs },
        c: { t: b.datt, start: sq, ...scores },
        causal: 1,
      }, opts));
    rt.group("attᵀ·dout", product, () =>
      gemm(rt, {
        M: T,
        N: hs,
        K: T,
        batch,
        a: { t: b.att, start: sq, ...scoresT },
        b: { t: b.dout, start: dy, sk: C, sn: 1, so: T * C, si: hs },
        c: { t: b.dinp, start: qkv + 2 * C, sm: C3, so: T * C3, si: hs },
        causal: 3,
      }, opts));
    rt.group("softmax", { bytes: 4 * 2 * rows * T }, () =>
      rt.dispatch({
        kernel: attentionSoftmaxBackwardKernel,
        bindings: [
          bindRange(b.dpreatt, sq, rows * T, rt.limits),
          bindRange(b.att, sq, rows * T, rt.limits),
          bindRange(b.datt, sq, rows * T, rt.limits),
        ],
        params: { rows, T },
        groups: gridRows(rt, rows),
      }));
    rt.group("dpreatt·k", product, () =>
      gemm(rt, {
        M: T,
        N: hs,
        K: T,
        batch,
        a: { t: b.dpreatt, start: sq, sm: T, sk: 1, so: NH * TT, si: TT },
        b: { t: b.inp, start: qkv + C, sk: C3, sn: 1, so: T * C3, si: hs },
        c: { t: b.dinp, start: qkv, sm: C3, so: T * C3, si: hs },
        alpha: scale,
        causal: 2,
      }, opts));
    rt.group("dpreattᵀ·q", product, () =>
      gemm(rt, {
        M: T,
        N: hs,
        K: T,
        batch,
        a: { t: b.dpreatt, start: sq, ...scoresT },
        b: { t: b.inp, start: qkv, sk: C3, sn: 1, so: T * C3, si: hs },
        c: { t: b.dinp, start: qkv + C, sm: C3, so: T * C3, si: hs },
        alpha: scale,
        causal: 3,
      }, opts));
  }
}
