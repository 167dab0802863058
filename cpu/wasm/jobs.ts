/**
 * Jobs shared by the main thread and the Workers: a job is a kind plus parameters in a small shared control
 * block, cut into numbered work items; every thread takes the next item number with `Atomics.add` until none
 * are left. Each item writes its own outputs, and an output element's reduction order is fixed by the plan
 * (block sizes that depend only on the shapes), never by which thread runs the item or how many threads there
 * are, so results are identical for any thread count.
 *
 * Control block (a SharedArrayBuffer): int32 slots (generation, done count, next item, kind, item count, error
 * flag, items run by Workers), then float64 parameter slots (addresses reach 2^32, beyond int32), then one
 * float64 result per item for reductions (the squared norm's partial sums, added in item order by the caller).
 *
 * @module
 */
import type { KernelExports } from "./module.ts";

/** Int32 slots of the control block. */
export const CTRL = { GEN: 0, DONE: 1, NEXT: 2, KIND: 3, ITEMS: 4, ERR: 5, WORKER_ITEMS: 6 } as const;
/** Byte offset and count of the float64 parameter slots. */
export const PARAMS_BYTE = 64, PARAM_SLOTS = 32;
/** Byte offset and count of the float64 per-item results. */
export const SUMS_BYTE = PARAMS_BYTE + 8 * PARAM_SLOTS, SUM_SLOTS = 4096;
/** Bytes of one control block. */
export const CTRL_BYTES = SUMS_BYTE + 8 * SUM_SLOTS;

/** Job kinds. */
export const KIND = {
  MM_FWD: 1,
  MM_BWD: 2,
  ATT_FWD: 3,
  ATT_BWD: 4,
  ADAMW: 5,
  SUMSQ: 6,
  GELU_FWD: 7,
  GELU_BWD: 8,
  SOFTMAX: 9,
  QUIT: 99,
} as const;

/** What a thread runs items with: its kernel instance, the shared memory, the control block's views. */
export interface ThreadContext {
  ex: KernelExports;
  memory: WebAssembly.Memory;
  ctrl: Int32Array;
  p: Float64Array;
  sums: Float64Array;
}

/** Views of a thread's control block. */
export function controlViews(ctrl: SharedArrayBuffer): { ctrl: Int32Array; p: Float64Array; sums: Float64Array } {
  return {
    ctrl: new Int32Array(ctrl, 0, PARAMS_BYTE / 4),
    p: new Float64Array(ctrl, PARAMS_BYTE, PARAM_SLOTS),
    sums: new Float64Array(ctrl, SUMS_BYTE, SUM_SLOTS),
  };
}

/** Parameter slots of a matmul forward job. */
export const FWD = { out: 0, inp: 1, w: 2, bias: 3, hasBias: 4, N: 5, C: 6, OC: 7, P: 8, RB: 9, nRB: 10 } as const;
/** Parameter slots of a matmul backward job (dinp items first, then dweight/dbias items). */
export const BWD = {
  dinp: 0,
  dweight: 1,
  dbias: 2,
  hasBias: 3,
  dout: 4,
  inp: 5,
  weight: 6,
  N: 7,
  C: 8,
  OC: 9,
  JB: 10, // dinp: columns per item
  KB: 11, // dinp: output channels per k block
  RB: 12, // dinp: rows per item
  nRB: 13,
  nDinp: 14, // number of dinp items
  OB: 15, // dweight: output channels per item
  JBw: 16, // dweight: columns per block
  KBw: 17, // dweight: rows (n) per k block
} as const;
/** Parameter slots of an attention job (forward: out, preatt, att, inp; backward: dinp, dpreatt, datt, dout). */
export const ATT = { a: 0, b: 1, c: 2, d: 3, inp: 4, att: 5, B: 6, T: 7, C: 8, NH: 9 } as const;
/**
 * Parameter slots of the pointwise jobs, cut into chunks of `chunk` elements: AdamW (a..d = params, grads, m,
 * v; then the hyperparameters), the squared norm (a = x), GELU (a = out or dinp, b = inp, c = dout).
 */
export const PW = {
  a: 0,
  b: 1,
  c: 2,
  d: 3,
  n: 4,
  chunk: 5,
  lr: 6,
  beta1: 7,
  beta2: 8,
  eps: 9,
  wd: 10,
  mCorr: 11,
  vCorr: 12,
  gradScale: 13,
} as const;
/** Parameter slots of the softmax + cross-entropy forward (one row per item). */
export const SMX = { losses: 0, probs: 1, logits: 2, targets: 3, V: 4, Vp: 5 } as const;

function matmulForwardItem(ex: KernelExports, p: Float64Array, i: number): void {
  const N = p[FWD.N], C = p[FWD.C], OC = p[FWD.OC], P = p[FWD.P], RB = p[FWD.RB], nRB = p[FWD.nRB];
  const o0 = Math.floor(i / nRB) * P, n0 = (i % nRB) * RB;
  const rows = Math.min(RB, N - n0), cols = Math.min(P, OC - o0);
  ex.mm_nt(
    p[FWD.out] + (n0 * OC + o0) * 4,
    p[FWD.inp] + n0 * C * 4,
    p[FWD.w] + o0 * C * 4,
    p[FWD.bias] + o0 * 4,
    p[FWD.hasBias],
    rows,
    cols,
    C,
    OC,
  );
}

function matmulBackwardItem(ex: KernelExports, p: Float64Array, i: number): void {
  const N = p[BWD.N], C = p[BWD.C], OC = p[BWD.OC], nDinp = p[BWD.nDinp];
  const dout = p[BWD.dout], ld = C * 4;
  if (i < nDinp) {
    // dinp[n0:n0+rows, j0:j0+cols] = Σ_o dout[n, o] · weight[o, j], o in blocks of KB, in order.
    const JB = p[BWD.JB], KB = p[BWD.KB], RB = p[BWD.RB], nRB = p[BWD.nRB];
    const j0 = Math.floor(i / nRB) * JB, n0 = (i % nRB) * RB;
    const rows = Math.min(RB, N - n0), cols = Math.min(JB, C - j0);
    for (let k0 = 0; k0 < OC; k0 += KB) {
      const a = dout + (n0 * OC + k0) * 4, b = p[BWD.weight] + (k0 * C + j0) * 4;
      const K = Math.min(KB, OC - k0);
      ex.gemm(p[BWD.dinp] + (n0 * C + j0) * 4, ld, a, OC * 4, 4, 0, b, ld, rows, cols, K, k0 > 0 ? 1 : 0);
    }
    return;
  }
  // dweight[o0:o0+rows, :] += Σ_n dout[n, o] · inp[n, j], n in blocks of KBw, in order; dbias alongside.
  const OB = p[BWD.OB], JBw = p[BWD.JBw], KBw = p[BWD.KBw];
  const o0 = (i - nDinp) * OB, rows = Math.min(OB, OC - o0);
  for (let j0 = 0; j0 < C; j0 += JBw) {
    for (let k0 = 0; k0 < N; k0 += KBw) {
      const a = dout + (k0 * OC + o0) * 4, b = p[BWD.inp] + (k0 * C + j0) * 4;
      const cols = Math.min(JBw, C - j0), K = Math.min(KBw, N - k0);
      ex.gemm(p[BWD.dweight] + (o0 * C + j0) * 4, ld, a, 4, OC * 4, 1, b, ld, rows, cols, K, 1);
    }
  }
  if (p[BWD.hasBias]) ex.colsum(p[BWD.dbias] + o0 * 4, dout + o0 * 4, OC * 4, N, rows);
}

function attentionItem(ex: KernelExports, p: Float64Array, i: number, backward: boolean): void {
  const T = p[ATT.T], C = p[ATT.C], NH = p[ATT.NH], hs = C / NH;
  const b = Math.floor(i / NH), h = i % NH;
  const qkv = (b * T * 3 * C + h * hs) * 4, bt = (b * T * C + h * hs) * 4, tt = i * T * T * 4;
  const scale = 1 / Math.sqrt(hs);
  if (!backward) {
    ex.attn_fwd(p[ATT.a] + bt, p[ATT.b] + tt, p[ATT.c] + tt, p[ATT.inp] + qkv, T, C, hs, scale);
  } else {
    const [dinp, dpreatt, datt, dout] = [p[ATT.a] + qkv, p[ATT.b] + tt, p[ATT.c] + tt, p[ATT.d] + bt];
    ex.attn_bwd(dinp, dpreatt, datt, dout, p[ATT.inp] + qkv, p[ATT.att] + tt, T, C, hs, scale);
  }
}

function pointwiseItem(t: ThreadContext, kind: number, i: number): void {
  const p = t.p, chunk = p[PW.chunk], e0 = i * chunk, n = Math.min(chunk, p[PW.n] - e0), off = e0 * 4;
  if (kind === KIND.ADAMW) {
    const [params, grads, m, v] = [p[PW.a] + off, p[PW.b] + off, p[PW.c] + off, p[PW.d] + off];
    t.ex.adamw(
      params,
      grads,
      m,
      v,
      n,
      p[PW.lr],
      p[PW.beta1],
      p[PW.beta2],
      p[PW.eps],
      p[PW.wd],
      p[PW.mCorr],
      p[PW.vCorr],
      p[PW.gradScale],
    );
  } else if (kind === KIND.SUMSQ) t.sums[i] = t.ex.sumsq(p[PW.a] + off, n);
  else if (kind === KIND.GELU_FWD) t.ex.gelu_fwd(p[PW.a] + off, p[PW.b] + off, n);
  else t.ex.gelu_bwd(p[PW.a] + off, p[PW.b] + off, p[PW.c] + off, n);
}

// One row of softmax + cross-entropy: probs, then loss = log Σ exp + max - logit[target] in float64.
function softmaxItem(t: ThreadContext, n: number): void {
  const p = t.p, V = p[SMX.V], Vp = p[SMX.Vp];
  const logits = p[SMX.logits] + n * Vp * 4;
  const max = t.ex.rowmax(logits, V);
  const sum = t.ex.softmax_row(p[SMX.probs] + n * Vp * 4, logits, V, Vp, max);
  const buf = t.memory.buffer;
  const target = new Int32Array(buf, p[SMX.targets] + n * 4, 1)[0];
  const logit = new Float32Array(buf, logits + target * 4, 1)[0];
  new Float32Array(buf, p[SMX.losses] + n * 4, 1)[0] = Math.log(sum) + max - logit;
}

/** Runs item `i` of the current job (its kind and parameters are in the control block). */
export function runItem(t: ThreadContext, kind: number, i: number): void {
  if (kind === KIND.MM_FWD) matmulForwardItem(t.ex, t.p, i);
  else if (kind === KIND.MM_BWD) matmulBackwardItem(t.ex, t.p, i);
  else if (kind === KIND.ATT_FWD) attentionItem(t.ex, t.p, i, false);
  else if (kind === KIND.ATT_BWD) attentionItem(t.ex, t.p, i, true);
  else if (kind >= KIND.ADAMW && kind <= KIND.GELU_BWD) pointwiseItem(t, kind, i);
  else if (kind === KIND.SOFTMAX) softmaxItem(t, i);
  else throw new Error(`Unknown CPU kernel job kind ${kind}`);
}

/**
 * Takes items of the current job until none are left (every participating thread calls this).
 * @returns How many items this thread ran.
 */
export function runJob(t: ThreadContext): number {
  const kind = t.ctrl[CTRL.KIND], items = t.ctrl[CTRL.ITEMS];
  for (let done = 0;; done++) {
    const i = Atomics.add(t.ctrl, CTRL.NEXT, 1);
    if (i >= items) return done;
    runItem(t, kind, i);
  }
}
