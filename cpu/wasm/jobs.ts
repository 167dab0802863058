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
 * Each job kind's parameters are a list of names numbered in order (`MM_FWD`, `ATT_BWD`, ...); the caller and
 * the items read and write them only by name, and the kernels get theirs as function arguments.
 *
 * @module
 */
import { type KernelExports, type Slots, slots } from "./exports.ts";

/** Int32 slots of the control block. */
export const CTRL = { GEN: 0, DONE: 1, NEXT: 2, KIND: 3, ITEMS: 4, ERR: 5, WORKER_ITEMS: 6 } as const;
/** Byte offset and count of the float64 parameter slots. */
export const PARAMS_BYTE = 64, PARAM_SLOTS = 32;
/** Byte offset and count of the float64 per-item results. */
export const SUMS_BYTE = PARAMS_BYTE + 8 * PARAM_SLOTS, SUM_SLOTS = 4096;
/** Bytes of one control block. */
export const CTRL_BYTES = SUMS_BYTE + 8 * SUM_SLOTS;

/** Job kinds; each has its table of parameter slots below, of the same name. */
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
  XENT_BWD: 10,
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

// A job's parameter slots: its names numbered in order (at most PARAM_SLOTS).
function params<const N extends readonly string[]>(names: N): Slots<N> {
  if (names.length > PARAM_SLOTS) throw new Error(`A job has ${names.length} parameters, more than ${PARAM_SLOTS}`);
  return slots(names);
}

/** Parameter slots of a matmul forward job; its plan from P on: P weight rows and RB inp rows per item (`plan.ts`). */
export const MM_FWD = params(["out", "inp", "weight", "bias", "hasBias", "N", "C", "OC", "P", "RB", "nRB"]);
/** Parameter slots of a matmul backward job (dinp items, then dweight/dbias items); its plan from JB on (`plan.ts`). */
export const MM_BWD = params([
  "dinp",
  "dweight",
  "dbias",
  "hasBias",
  "dout",
  "inp",
  "weight",
  "N",
  "C",
  "OC",
  "JB", // dinp: columns per item
  "KB", // dinp: output channels per k block
  "RB", // dinp: rows per item
  "nRB",
  "nDinp", // number of dinp items
  "OB", // dweight: output channels per item
  "JBw", // dweight: columns per block
  "KBw", // dweight: rows (n) per k block
]);
/** Parameter slots of an attention forward job (one (b, h) pair per item). */
export const ATT_FWD = params(["out", "preatt", "att", "inp", "B", "T", "C", "NH"]);
/** Parameter slots of an attention backward job (one (b, h) pair per item). */
export const ATT_BWD = params(["dinp", "dpreatt", "datt", "dout", "inp", "att", "B", "T", "C", "NH"]);
/** Parameter slots of an AdamW job over n elements, cut into items of `chunk` elements; then the hyperparameters. */
export const ADAMW = params([
  "params",
  "grads",
  "m",
  "v",
  "n",
  "chunk",
  "learningRate",
  "beta1",
  "beta2",
  "eps",
  "weightDecay",
  "mCorrection",
  "vCorrection",
  "gradScale",
]);
/** Parameter slots of a squared-norm job over n elements (items of `chunk` elements, one partial sum each). */
export const SUMSQ = params(["grads", "n", "chunk"]);
/** Parameter slots of a GELU forward job over n elements (items of `chunk` elements). */
export const GELU_FWD = params(["out", "inp", "n", "chunk"]);
/** Parameter slots of a GELU backward job over n elements (items of `chunk` elements). */
export const GELU_BWD = params(["dinp", "inp", "dout", "n", "chunk"]);
/** Parameter slots of a softmax + cross-entropy forward job (one row per item). */
export const SOFTMAX = params(["losses", "lse", "logits", "targets", "V", "Vp"]);
/** Parameter slots of the fused classifier's backward job, in place over the logits `dlogits` (one row per item). */
export const XENT_BWD = params(["dlogits", "lse", "targets", "V", "Vp", "dloss"]);

function matmulForwardItem(ex: KernelExports, p: Float64Array, i: number): void {
  const N = p[MM_FWD.N], C = p[MM_FWD.C], OC = p[MM_FWD.OC], P = p[MM_FWD.P], RB = p[MM_FWD.RB];
  const nRB = p[MM_FWD.nRB];
  const o0 = Math.floor(i / nRB) * P, n0 = (i % nRB) * RB;
  const rows = Math.min(RB, N - n0), cols = Math.min(P, OC - o0);
  ex.mm_nt(
    p[MM_FWD.out] + (n0 * OC + o0) * 4,
    p[MM_FWD.inp] + n0 * C * 4,
    p[MM_FWD.weight] + o0 * C * 4,
    p[MM_FWD.bias] + o0 * 4,
    p[MM_FWD.hasBias],
    rows,
    cols,
    C,
    OC,
  );
}

function matmulBackwardItem(ex: KernelExports, p: Float64Array, i: number): void {
  const N = p[MM_BWD.N], C = p[MM_BWD.C], OC = p[MM_BWD.OC], nDinp = p[MM_BWD.nDinp];
  const dout = p[MM_BWD.dout], ld = C * 4;
  if (i < nDinp) {
    // dinp[n0:n0+rows, j0:j0+cols] = Σ_o dout[n, o] · weight[o, j], o in blocks of KB, in order.
    const JB = p[MM_BWD.JB], KB = p[MM_BWD.KB], RB = p[MM_BWD.RB], nRB = p[MM_BWD.nRB];
    const j0 = Math.floor(i / nRB) * JB, n0 = (i % nRB) * RB;
    const rows = Math.min(RB, N - n0), cols = Math.min(JB, C - j0);
    for (let k0 = 0; k0 < OC; k0 += KB) {
      const a = dout + (n0 * OC + k0) * 4, b = p[MM_BWD.weight] + (k0 * C + j0) * 4;
      const K = Math.min(KB, OC - k0);
      ex.gemm(p[MM_BWD.dinp] + (n0 * C + j0) * 4, ld, a, OC * 4, 4, 0, b, ld, rows, cols, K, k0 > 0 ? 1 : 0);
    }
    return;
  }
  // dweight[o0:o0+rows, :] += Σ_n dout[n, o] · inp[n, j], n in blocks of KBw, in order; dbias alongside.
  const OB = p[MM_BWD.OB], JBw = p[MM_BWD.JBw], KBw = p[MM_BWD.KBw];
  const o0 = (i - nDinp) * OB, rows = Math.min(OB, OC - o0);
  for (let j0 = 0; j0 < C; j0 += JBw) {
    for (let k0 = 0; k0 < N; k0 += KBw) {
      const a = dout + (k0 * OC + o0) * 4, b = p[MM_BWD.inp] + (k0 * C + j0) * 4;
      const cols = Math.min(JBw, C - j0), K = Math.min(KBw, N - k0);
      ex.gemm(p[MM_BWD.dweight] + (o0 * C + j0) * 4, ld, a, 4, OC * 4, 1, b, ld, rows, cols, K, 1);
    }
  }
  if (p[MM_BWD.hasBias]) ex.colsum(p[MM_BWD.dbias] + o0 * 4, dout + o0 * 4, OC * 4, N, rows);
}

// Item i = b·NH + h of an attention job: byte offsets of its head in the (B,T,3C) qkv rows, the (B,T,C) rows
// and its (T,T) block; hs and the score scale.
function head(p: Float64Array, s: typeof ATT_FWD | typeof ATT_BWD, i: number) {
  const T = p[s.T], C = p[s.C], NH = p[s.NH], hs = C / NH;
  const b = Math.floor(i / NH), h = i % NH;
  return {
    T,
    C,
    hs,
    scale: 1 / Math.sqrt(hs),
    qkv: (b * T * 3 * C + h * hs) * 4,
    bt: (b * T * C + h * hs) * 4,
    tt: i * T * T * 4,
  };
}

function attentionForwardItem(ex: KernelExports, p: Float64Array, i: number): void {
  const { T, C, hs, scale, qkv, bt, tt } = head(p, ATT_FWD, i);
  const [out, preatt, att] = [p[ATT_FWD.out] + bt, p[ATT_FWD.preatt] + tt, p[ATT_FWD.att] + tt];
  ex.attn_fwd(out, preatt, att, p[ATT_FWD.inp] + qkv, T, C, hs, scale);
}

function attentionBackwardItem(ex: KernelExports, p: Float64Array, i: number): void {
  const { T, C, hs, scale, qkv, bt, tt } = head(p, ATT_BWD, i);
  const [dinp, dpreatt, datt] = [p[ATT_BWD.dinp] + qkv, p[ATT_BWD.dpreatt] + tt, p[ATT_BWD.datt] + tt];
  ex.attn_bwd(dinp, dpreatt, datt, p[ATT_BWD.dout] + bt, p[ATT_BWD.inp] + qkv, p[ATT_BWD.att] + tt, T, C, hs, scale);
}

// Item i of a job over n elements in items of `chunk`: its element count and byte offset.
function chunkOf(p: Float64Array, s: { readonly n: number; readonly chunk: number }, i: number): [number, number] {
  const chunk = p[s.chunk], e0 = i * chunk;
  return [Math.min(chunk, p[s.n] - e0), e0 * 4];
}

function adamwItem(ex: KernelExports, p: Float64Array, i: number): void {
  const [n, off] = chunkOf(p, ADAMW, i);
  ex.adamw(
    p[ADAMW.params] + off,
    p[ADAMW.grads] + off,
    p[ADAMW.m] + off,
    p[ADAMW.v] + off,
    n,
    p[ADAMW.learningRate],
    p[ADAMW.beta1],
    p[ADAMW.beta2],
    p[ADAMW.eps],
    p[ADAMW.weightDecay],
    p[ADAMW.mCorrection],
    p[ADAMW.vCorrection],
    p[ADAMW.gradScale],
  );
}

function sumsqItem(t: ThreadContext, i: number): void {
  const [n, off] = chunkOf(t.p, SUMSQ, i);
  t.sums[i] = t.ex.sumsq(t.p[SUMSQ.grads] + off, n);
}

function geluForwardItem(ex: KernelExports, p: Float64Array, i: number): void {
  const [n, off] = chunkOf(p, GELU_FWD, i);
  ex.gelu_fwd(p[GELU_FWD.out] + off, p[GELU_FWD.inp] + off, n);
}

function geluBackwardItem(ex: KernelExports, p: Float64Array, i: number): void {
  const [n, off] = chunkOf(p, GELU_BWD, i);
  ex.gelu_bwd(p[GELU_BWD.dinp] + off, p[GELU_BWD.inp] + off, p[GELU_BWD.dout] + off, n);
}

// One row of softmax + cross-entropy: lse = log Σ exp + max and loss = lse - logit[target], in float64.
function softmaxItem(t: ThreadContext, n: number): void {
  const p = t.p, V = p[SOFTMAX.V], Vp = p[SOFTMAX.Vp];
  const logits = p[SOFTMAX.logits] + n * Vp * 4;
  const max = t.ex.rowmax(logits, V);
  const sum = t.ex.expsum_row(logits, V, max);
  const buf = t.memory.buffer;
  const target = new Int32Array(buf, p[SOFTMAX.targets] + n * 4, 1)[0];
  const logit = new Float32Array(buf, logits + target * 4, 1)[0];
  new Float32Array(buf, p[SOFTMAX.lse] + n * 4, 1)[0] = Math.log(sum) + max;
  new Float32Array(buf, p[SOFTMAX.losses] + n * 4, 1)[0] = Math.log(sum) + max - logit;
}

// One row of the fused classifier's backward: the row's logits become (softmax - onehot)·dloss.
function xentBackwardItem(t: ThreadContext, n: number): void {
  const p = t.p, V = p[XENT_BWD.V], Vp = p[XENT_BWD.Vp], buf = t.memory.buffer;
  const target = new Int32Array(buf, p[XENT_BWD.targets] + n * 4, 1)[0];
  const lse = new Float32Array(buf, p[XENT_BWD.lse] + n * 4, 1)[0];
  t.ex.xent_bwd_row(p[XENT_BWD.dlogits] + n * Vp * 4, V, Vp, target, lse, p[XENT_BWD.dloss]);
}

/** Runs item `i` of the current job (its kind and parameters are in the control block). */
export function runItem(t: ThreadContext, kind: number, i: number): void {
  if (kind === KIND.MM_FWD) matmulForwardItem(t.ex, t.p, i);
  else if (kind === KIND.MM_BWD) matmulBackwardItem(t.ex, t.p, i);
  else if (kind === KIND.ATT_FWD) attentionForwardItem(t.ex, t.p, i);
  else if (kind === KIND.ATT_BWD) attentionBackwardItem(t.ex, t.p, i);
  else if (kind === KIND.ADAMW) adamwItem(t.ex, t.p, i);
  else if (kind === KIND.SUMSQ) sumsqItem(t, i);
  else if (kind === KIND.GELU_FWD) geluForwardItem(t.ex, t.p, i);
  else if (kind === KIND.GELU_BWD) geluBackwardItem(t.ex, t.p, i);
  else if (kind === KIND.SOFTMAX) softmaxItem(t, i);
  else if (kind === KIND.XENT_BWD) xentBackwardItem(t, i);
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
