/**
 * Cutting matmuls into work items (see `jobs.ts`). Block sizes follow the cache (an operand panel per item or
 * per call that stays in L2) and give each thread a few items, so dynamic scheduling evens out the load. Any
 * cut gives the same bits (the kernels' reduction order does not depend on it), so the thread count may shape
 * the plan.
 *
 * @module
 */
import { GEMM_MAX_K, GEMM_PANEL_BYTES, type GemmTile } from "./gemm.ts";
import { MM_BWD, MM_FWD } from "./jobs.ts";

/** Cache blocking, in bytes of the panel that one step keeps in L2 (512 KiB per core here). */
export interface Blocking {
  /** Forward: weight rows per item (P·C·4 bytes). */
  fwdPanelBytes: number;
  /** Backward: the packed b panel of one gemm call (K·cols·4 bytes), at most GEMM_PANEL_BYTES. */
  gemmPanelBytes: number;
  /** Backward: dinp columns per item, at most (fewer when that gives each thread several items). */
  dinpCols: number;
  /** Backward: rows of inp (n) per dweight k block. */
  dweightK: number;
}

/** Defaults, measured on a 2-core AMD EPYC (Zen 3, 512 KiB L2 per core). */
export const DEFAULT_BLOCKING: Blocking = {
  fwdPanelBytes: 192 * 1024,
  gemmPanelBytes: 384 * 1024,
  dinpCols: 256,
  dweightK: 256,
};

const ceilDiv = (a: number, b: number) => Math.ceil(a / b);
const roundUp = (a: number, m: number) => ceilDiv(a, m) * m;

// Rows per block so that `blocks` column blocks × row blocks make at least `want` items (rows in multiples of R).
function rowBlock(N: number, blocks: number, want: number, R: number): number {
  const split = blocks >= want ? 1 : Math.min(ceilDiv(N, R), ceilDiv(want, blocks));
  return roundUp(ceilDiv(N, split), R);
}

/**
 * Fills the forward plan into `p` (sizes already there): panels of P weight rows × blocks of RB inp rows.
 * @returns The number of items.
 */
export function planForward(p: Float64Array, threads: number, tile: { R: number; S: number }, b: Blocking): number {
  const N = p[MM_FWD.N], C = p[MM_FWD.C], OC = p[MM_FWD.OC];
  const P = Math.min(roundUp(OC, tile.S), Math.max(tile.S, roundDownTo(b.fwdPanelBytes / (C * 4), tile.S)));
  const nP = ceilDiv(OC, P);
  const RB = rowBlock(N, nP, 4 * threads, tile.R);
  p[MM_FWD.P] = P;
  p[MM_FWD.RB] = RB;
  p[MM_FWD.nRB] = ceilDiv(N, RB);
  return nP * p[MM_FWD.nRB];
}

/**
 * Fills the backward plan into `p` (sizes already there): dinp items (column blocks × row blocks, looping over k
 * blocks), then dweight/dbias items (blocks of output channels, a couple per thread, so that each packs its inp
 * panels only a few times).
 * @returns The number of items.
 */
export function planBackward(p: Float64Array, threads: number, tile: GemmTile, b: Blocking): number {
  const N = p[MM_BWD.N], C = p[MM_BWD.C], OC = p[MM_BWD.OC], W = 4 * tile.S;
  const panel = Math.min(b.gemmPanelBytes, GEMM_PANEL_BYTES);
  // dinp: split columns rather than rows where possible (a row split packs each weight panel once per row
  // block, and the packing is amortized over the rows of a call).
  const JB = Math.min(roundUp(C, W), Math.max(W, roundDownTo(b.dinpCols, W)), roundUp(ceilDiv(C, 4 * threads), W));
  const KB = Math.max(1, Math.min(GEMM_MAX_K, Math.floor(panel / (JB * 4))));
  const nJ = ceilDiv(C, JB);
  const RB = rowBlock(N, nJ, 4 * threads, tile.R);
  const KBw = Math.max(1, Math.min(N, b.dweightK, GEMM_MAX_K));
  const JBw = Math.min(roundUp(C, W), Math.max(W, roundDownTo(panel / (KBw * 4), W)));
  const OB = roundUp(ceilDiv(OC, 2 * threads), tile.R);
  const nRB = ceilDiv(N, RB);
  [p[MM_BWD.JB], p[MM_BWD.KB], p[MM_BWD.RB], p[MM_BWD.nRB], p[MM_BWD.nDinp]] = [JB, KB, RB, nRB, nJ * nRB];
  [p[MM_BWD.OB], p[MM_BWD.JBw], p[MM_BWD.KBw]] = [OB, JBw, KBw];
  return p[MM_BWD.nDinp] + ceilDiv(OC, OB);
}

function roundDownTo(x: number, m: number): number {
  return Math.floor(x / m) * m;
}
