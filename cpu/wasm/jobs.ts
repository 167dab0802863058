/**
 * Jobs shared by the main thread and the Workers: a job is a kind plus parameters in a small shared control
 * block, cut into numbered work items; every thread takes the next item number with `Atomics.add` until none
 * are left. Each item writes its own outputs, and an output element's reduction order is fixed by the plan
 * (block sizes that depend only on the shapes), never by which thread runs the item or how many threads there
 * are, so results are identical for any thread count.
 *
 * Control block (Int32Array over a SharedArrayBuffer): generation, done count, next item, kind, item count,
 * error flag, items run by Workers (a statistic); parameters as float64 slots after it (addresses are up to 2^32, beyond int32).
 *
 * @module
 */
import type { KernelExports } from "./module.ts";

/** Int32 slots of the control block. */
export const CTRL = { GEN: 0, DONE: 1, NEXT: 2, KIND: 3, ITEMS: 4, ERR: 5, WORKER_ITEMS: 6 } as const;
/** Byte offset and count of the float64 parameter slots. */
export const PARAMS_BYTE = 64, PARAM_SLOTS = 32;
/** Bytes of one control block. */
export const CTRL_BYTES = PARAMS_BYTE + 8 * PARAM_SLOTS;

/** Job kinds. */
export const KIND = { MM_FWD: 1, MM_BWD: 2, ATT_FWD: 3, ATT_BWD: 4, QUIT: 99 } as const;

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
      ex.mm_nn_kunit(
        p[BWD.dinp] + (n0 * C + j0) * 4,
        ld,
        dout + (n0 * OC + k0) * 4,
        OC * 4,
        4,
        p[BWD.weight] + (k0 * C + j0) * 4,
        ld,
        rows,
        cols,
        Math.min(KB, OC - k0),
        k0 > 0 ? 1 : 0,
      );
    }
    return;
  }
  // dweight[o0:o0+rows, :] += Σ_n dout[n, o] · inp[n, j], n in blocks of KBw, in order; dbias alongside.
  const OB = p[BWD.OB], JBw = p[BWD.JBw], KBw = p[BWD.KBw];
  const o0 = (i - nDinp) * OB, rows = Math.min(OB, OC - o0);
  for (let j0 = 0; j0 < C; j0 += JBw) {
    for (let k0 = 0; k0 < N; k0 += KBw) {
      ex.mm_nn_runit(
        p[BWD.dweight] + (o0 * C + j0) * 4,
        ld,
        dout + (k0 * OC + o0) * 4,
        4,
        OC * 4,
        p[BWD.inp] + (k0 * C + j0) * 4,
        ld,
        rows,
        Math.min(JBw, C - j0),
        Math.min(KBw, N - k0),
        1,
      );
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

/** Runs item `i` of the job described by `kind` and `p`. */
export function runItem(ex: KernelExports, kind: number, p: Float64Array, i: number): void {
  if (kind === KIND.MM_FWD) matmulForwardItem(ex, p, i);
  else if (kind === KIND.MM_BWD) matmulBackwardItem(ex, p, i);
  else if (kind === KIND.ATT_FWD) attentionItem(ex, p, i, false);
  else if (kind === KIND.ATT_BWD) attentionItem(ex, p, i, true);
  else throw new Error(`Unknown CPU kernel job kind ${kind}`);
}

/**
 * Takes items of the current job until none are left (every participating thread calls this).
 * @returns How many items this thread ran.
 */
export function runJob(ex: KernelExports, ctrl: Int32Array, p: Float64Array): number {
  const kind = ctrl[CTRL.KIND], items = ctrl[CTRL.ITEMS];
  for (let done = 0;; done++) {
    const i = Atomics.add(ctrl, CTRL.NEXT, 1);
    if (i >= items) return done;
    runItem(ex, kind, p, i);
  }
}
