/**
 * Causal multi-head self-attention without the (B,NH,T,T) matrices: FlashAttention-2 (Dao, 2023). The same
 * computation as `attention.forward` / `attention.backward` (layers/attention.ts) on the same qkv rows (B,T,3C), but
 * forward saves only each row's log-sum-exp of the scores, lse (B,NH,T), and backward recomputes the probabilities
 * P[t,t2] = exp(q[t]·k[t2]/√hs - lse[t]) block by block from q, k and lse.
 *
 * The forms of `flashAttention.forward` and `flashAttention.backward`:
 * - `cpu`: the scalar functions `flashAttentionForward` and `flashAttentionBackward` below, row by row in float64
 *   (the reference; they agree with `attentionForward` / `attentionBackward`);
 * - `gpu`: register-blocked kernels (TX threads share 4 rows; a thread holds 4 rows × cols/TX columns of a score
 *   block and 4 rows × ⌈hs/4TX⌉ vec4 of an accumulator, kernels/_flash.wgsl): `kernels/flash_attention_forward.wgsl`
 *   (online softmax over key blocks; its row-group max and sum in a workgroup-memory form, or a subgroup form where
 *   the device has `subgroups`), and for backward
 *   `kernels/flash_attention_backward_delta.wgsl` (D = rowsum(dout∘out), in the runtime's scratch), then
 *   `kernels/flash_attention_backward_dq.wgsl` (parallel over query blocks) and
 *   `kernels/flash_attention_backward_dkdv.wgsl` (parallel over key blocks): every gradient is written by one
 *   workgroup, so there are no atomics and the results are reproducible. Tile sizes are `override`s chosen by
 *   `flashTiles` from the head size and the workgroup memory.
 *
 * There is no WASM form; the GPU kernels need hs = C/NH a multiple of 4 and at most 128.
 *
 * @module
 */
import flashBackwardDeltaSrc from "../kernels/flash_attention_backward_delta.wgsl" with { type: "text" };
import flashBackwardDkdvSrc from "../kernels/flash_attention_backward_dkdv.wgsl" with { type: "text" };
import flashBackwardSharedSrc from "../kernels/_flash_backward.wgsl" with { type: "text" };
import flashSharedSrc from "../kernels/_flash.wgsl" with { type: "text" };
import flashBackwardDqSrc from "../kernels/flash_attention_backward_dq.wgsl" with { type: "text" };
import flashForwardSrc from "../kernels/flash_attention_forward.wgsl" with { type: "text" };
import flashRowsSubgroupSrc from "../kernels/_flash_rows_subgroup.wgsl" with { type: "text" };
import flashRowsWorkgroupSrc from "../kernels/_flash_rows_workgroup.wgsl" with { type: "text" };
import reduceSrc from "../kernels/_reduce.wgsl" with { type: "text" };
import reduceLanesSrc from "../kernels/_reduce_lanes.wgsl" with { type: "text" };
import { gridRows, perBinding, ranges } from "../gpu/dispatch.ts";
import { wgslKernel } from "../gpu/kernel.ts";
import type { GpuRuntime } from "../gpu/runtime.ts";
import { bindRange, type GpuBinding, type GpuTensor } from "../gpu/tensor.ts";
import { UserError } from "../util/errors.ts";
import { zeroedScratch } from "./_scratch.ts";
import { type BufferSpec, type CpuBuffers, defineOp, type GpuBuffers } from "./_op.ts";

export {
  FLASH_CANDIDATES,
  type FlashTile,
  flashTileBytes,
  type FlashTiles,
  flashTiles,
  flashTileText,
  flashTileThreads,
  parseFlashTiles,
} from "./_flash_tiles.ts";
import {
  DEFAULT_TX,
  FALLBACK_BYTES,
  flashTileBytes,
  type FlashTiles,
  flashTiles,
  flashTileText,
  flashTileThreads,
  tileProblem,
} from "./_flash_tiles.ts";

/** Sizes of a flash attention call; `tiles` overrides `flashTiles`' choice (tests, benchmarks). */
export interface FlashSizes {
  B: number;
  T: number;
  C: number;
  NH: number;
  tiles?: FlashTiles;
}

/** Flash attention forward: out (B,T,C) and the rows' log-sum-exp lse (B,NH,T) from inp (B,T,3C). */
export const FLASH_ATTENTION_FORWARD = { out: "f32", lse: "f32", inp: "f32" } as const satisfies BufferSpec;
/** Flash attention backward: dinp (B,T,3C) written from dout, inp, and the forward's out and lse. */
export const FLASH_ATTENTION_BACKWARD = {
  dinp: "f32",
  dout: "f32",
  inp: "f32",
  out: "f32",
  lse: "f32",
} as const satisfies BufferSpec;

/**
 * Forward: out (B,T,C) gets each head's softmax(q·kᵀ/√hs, causal)·v in its channel slice, lse (B,NH,T) the log-sum-exp
 * of each row's scores, log Σ_{t2 ≤ t} exp(q[t]·k[t2]/√hs). Row by row in float64, as `attentionForward`.
 *
 * @param b `out` (B,T,C) and `lse` (B,NH,T) written; `inp` (B,T,3C).
 * @param s Sizes B, T, C, NH (C divisible by NH).
 * @example
 * ```ts
 * import { flashAttentionForward } from "./flash_attention.ts";
 * // Two positions with equal scores: row 1 averages the two values, and its lse is log(2·e^score).
 * const inp = new Float32Array([1, 1, 2, 1, 1, 4]);
 * const out = new Float32Array(2), lse = new Float32Array(2);
 * flashAttentionForward({ out, lse, inp }, { B: 1, T: 2, C: 1, NH: 1 });
 * if (out[1] !== 3 || Math.abs(lse[1] - (1 + Math.log(2))) > 1e-6) throw new Error("wrong attention");
 * ```
 */
export function flashAttentionForward(b: CpuBuffers<typeof FLASH_ATTENTION_FORWARD>, s: FlashSizes): void {
  const { out, lse, inp } = b;
  const { B, T, C, NH } = s;
  const hs = C / NH;
  const scale = 1 / Math.sqrt(hs);
  const C3 = 3 * C;
  const weights = zeroedScratch(0, T); // one row of scores, then of probabilities, in float64
  const acc = zeroedScratch(1, hs);
  for (let bb = 0; bb < B; bb++) {
    for (let h = 0; h < NH; h++) {
      for (let t = 0; t < T; t++) {
        const query = (bb * T + t) * C3 + h * hs;
        let max = -Infinity;
        for (let t2 = 0; t2 <= t; t2++) {
          const key = (bb * T + t2) * C3 + C + h * hs;
          let dot = 0;
          for (let i = 0; i < hs; i++) dot += inp[query + i] * inp[key + i];
          weights[t2] = dot * scale;
          if (weights[t2] > max) max = weights[t2];
        }
        let expSum = 0;
        for (let t2 = 0; t2 <= t; t2++) {
          weights[t2] = Math.exp(weights[t2] - max);
          expSum += weights[t2];
        }
        lse[(bb * NH + h) * T + t] = max + Math.log(expSum);
        acc.fill(0);
        for (let t2 = 0; t2 <= t; t2++) {
          const value = (bb * T + t2) * C3 + 2 * C + h * hs;
          const w = weights[t2] / expSum;
          for (let i = 0; i < hs; i++) acc[i] += w * inp[value + i];
        }
        out.set(acc, (bb * T + t) * C + h * hs);
      }
    }
  }
}

/**
 * Backward: dinp (B,T,3C) is written in full. Per head and query t, with P[t2] = exp(q·k[t2]/√hs - lse[t])
 * recomputed, dP[t2] = dout[t]·v[t2] and D = dout[t]·out[t] (= Σ_t2 P·dP): dS = P·(dP - D), dq += dS·k[t2]/√hs,
 * dk[t2] += dS·q/√hs, dv[t2] += P·dout[t]. Float64 sums; each batch's gradients are stored once.
 *
 * @param b `dinp` (B,T,3C) written; `dout` (B,T,C); `inp` (B,T,3C), `out` (B,T,C) and `lse` (B,NH,T) from forward.
 * @param s Sizes B, T, C, NH.
 * @example
 * ```ts
 * import { flashAttentionBackward } from "./flash_attention.ts";
 * // One position: out = v, so dv = dout and q, k get nothing.
 * const dinp = new Float32Array(3).fill(NaN);
 * flashAttentionBackward({ dinp, dout: new Float32Array([5]), inp: new Float32Array([0.5, 2, 7]),
 *   out: new Float32Array([7]), lse: new Float32Array([1]) }, { B: 1, T: 1, C: 1, NH: 1 });
 * if (dinp[0] !== 0 || dinp[1] !== 0 || dinp[2] !== 5) throw new Error("wrong attention gradient");
 * ```
 */
export function flashAttentionBackward(b: CpuBuffers<typeof FLASH_ATTENTION_BACKWARD>, s: FlashSizes): void {
  const { dinp, dout, inp, out, lse } = b;
  const { B, T, C, NH } = s;
  const hs = C / NH;
  const scale = 1 / Math.sqrt(hs);
  const C3 = 3 * C;
  for (let bb = 0; bb < B; bb++) {
    const grad = zeroedScratch(1, T * C3); // this batch's dinp (T,3C) in float64
    for (let h = 0; h < NH; h++) {
      for (let t = 0; t < T; t++) {
        const query = (bb * T + t) * C3 + h * hs;
        const dquery = t * C3 + h * hs;
        const row = (bb * T + t) * C + h * hs; // of out and dout
        const L = lse[(bb * NH + h) * T + t];
        let D = 0;
        for (let i = 0; i < hs; i++) D += dout[row + i] * out[row + i];
        for (let t2 = 0; t2 <= t; t2++) {
          const key = (bb * T + t2) * C3 + C + h * hs;
          const value = key + C;
          let score = 0, dp = 0;
          for (let i = 0; i < hs; i++) {
            score += inp[query + i] * inp[key + i];
            dp += dout[row + i] * inp[value + i];
          }
          const prob = Math.exp(score * scale - L);
          const g = prob * (dp - D) * scale;
          const dkey = t2 * C3 + C + h * hs;
          const dvalue = dkey + C;
          for (let i = 0; i < hs; i++) {
            grad[dquery + i] += g * inp[key + i];
            grad[dkey + i] += g * inp[query + i];
            grad[dvalue + i] += prob * dout[row + i];
          }
        }
      }
    }
    dinp.set(grad, bb * T * C3);
  }
}

/** The forward kernel's two forms: row-group reductions through workgroup memory, or with subgroup shuffles. */
const forwardKernel = wgslKernel(flashForwardSrc + flashSharedSrc + flashRowsWorkgroupSrc);
const forwardSubgroupKernel = wgslKernel(flashForwardSrc + flashSharedSrc + flashRowsSubgroupSrc);
const deltaKernel = wgslKernel(flashBackwardDeltaSrc + reduceSrc + reduceLanesSrc);
const dqKernel = wgslKernel(flashBackwardDqSrc + flashSharedSrc + flashBackwardSharedSrc);
const dkdvKernel = wgslKernel(flashBackwardDkdvSrc + flashSharedSrc + flashBackwardSharedSrc);

/**
 * Checks that the GPU kernels take this head size (a multiple of 4 up to 128), before a model is built around them.
 *
 * @param C Channels.
 * @param NH Heads.
 * @throws UserError naming the head size otherwise.
 */
export function checkFlashHeadSize(C: number, NH: number): void {
  const hs = C / NH;
  if (!Number.isInteger(hs) || hs % 4 !== 0 || hs > 128) {
    throw new UserError(
      `Flash attention on the GPU needs a head size C/NH that is a multiple of 4 up to 128, not ${hs}`,
    );
  }
}

/** Head size, its tiles (checked against the device) and the batches per dispatch (bindings, grid limits). */
function plan(rt: GpuRuntime, s: FlashSizes, inp: GpuTensor) {
  const { T, C, NH } = s;
  const hs = C / NH;
  checkFlashHeadSize(C, NH);
  const bytes = rt.limits.maxComputeWorkgroupStorageSize;
  const tiles = s.tiles ?? flashTiles(hs, bytes, rt.ctx.isFallback ? FALLBACK_BYTES : bytes);
  const threads = rt.limits.maxComputeInvocationsPerWorkgroup;
  for (const k of ["forward", "dq", "dkdv"] as const) {
    const tile = tiles[k], text = flashTileText(tile), problem = tileProblem(tile);
    if (problem) throw new UserError(`Flash attention: ${k} tile ${text}: ${problem}`);
    if (flashTileBytes(k, tile, hs) > bytes) {
      throw new UserError(`Flash attention: ${k} tile ${text} exceeds ${bytes} bytes of workgroup memory`);
    }
    if (flashTileThreads(tile) > threads) {
      throw new UserError(`Flash attention: ${k} tile ${text} has more than the device's ${threads} threads`);
    }
  }
  const max = rt.limits.maxComputeWorkgroupsPerDimension;
  const perGroup = Math.min(perBinding(rt, 3 * T * C, inp), Math.floor(max / NH));
  return { hs, tiles, groups: ranges(s.B, perGroup), scale: 1 / Math.sqrt(hs) };
}

/** GPU forward: one dispatch of kernels/flash_attention_forward.wgsl per batch group. */
function flashForwardGpu(rt: GpuRuntime, b: GpuBuffers<typeof FLASH_ATTENTION_FORWARD>, s: FlashSizes): void {
  const { T, C, NH } = s;
  const { hs, tiles, groups, scale } = plan(rt, s, b.inp);
  const { rows: BR, cols: BC, threadsPerRowGroup: TX = DEFAULT_TX } = tiles.forward;
  for (const [b0, bc] of groups) {
    rt.dispatch({
      kernel: rt.ctx.hasSubgroups ? forwardSubgroupKernel : forwardKernel,
      overrides: { BR, BC, TX, HS4: hs / 4 },
      bindings: [
        bindRange(b.out, b0 * T * C, bc * T * C, rt.limits),
        bindRange(b.lse, b0 * NH * T, bc * NH * T, rt.limits),
        bindRange(b.inp, b0 * T * 3 * C, bc * T * 3 * C, rt.limits),
      ],
      params: { T, C, NH, scale },
      groups: [Math.ceil(T / BR), bc * NH],
    });
  }
}

/**
 * D (b,NH,T) = rowsum(dout ∘ out) per head and position, for `rows` = b·T·NH rows of (b,T,C) tensors (the softmax
 * backward's row term, Σ_t2 P·dP, without P): kernels/flash_attention_backward_delta.wgsl. Also the materialized
 * attention's backward uses it (layers/attention.ts).
 *
 * @param rt The runtime.
 * @param bindings D (rows), out and dout (rows·hs each).
 * @param rows b·T·NH.
 * @param T Sequence length.
 * @param NH Heads.
 * @param hs Head size.
 */
export function dispatchRowDelta(
  rt: GpuRuntime,
  bindings: [GpuBinding, GpuBinding, GpuBinding],
  rows: number,
  T: number,
  NH: number,
  hs: number,
): void {
  const { WG, RW } = deltaKernel.overrides as { WG: number; RW: number };
  rt.dispatch({
    kernel: deltaKernel,
    bindings,
    params: { rows, T, NH, hs },
    groups: gridRows(rt, Math.ceil(rows / (WG / RW))),
  });
}

/** GPU backward: D into scratch, then dq and dk, dv, per batch group. */
function flashBackwardGpu(rt: GpuRuntime, b: GpuBuffers<typeof FLASH_ATTENTION_BACKWARD>, s: FlashSizes): void {
  const { T, C, NH } = s;
  const { hs, tiles, groups, scale } = plan(rt, s, b.inp);
  const delta = rt.scratch(Math.max(...groups.map(([, bc]) => bc)) * NH * T);
  for (const [b0, bc] of groups) {
    const rows = bc * T * NH;
    const bind = {
      dinp: bindRange(b.dinp, b0 * T * 3 * C, bc * T * 3 * C, rt.limits),
      inp: bindRange(b.inp, b0 * T * 3 * C, bc * T * 3 * C, rt.limits),
      dout: bindRange(b.dout, b0 * T * C, bc * T * C, rt.limits),
      out: bindRange(b.out, b0 * T * C, bc * T * C, rt.limits),
      lse: bindRange(b.lse, b0 * NH * T, rows, rt.limits),
      delta: bindRange(delta, 0, rows, rt.limits),
    };
    const products = { flops: bc * T * T * C }; // one causal T×T×hs product per head
    rt.group(
      "D",
      { bytes: 8 * bc * T * C },
      () => dispatchRowDelta(rt, [bind.delta, bind.out, bind.dout], rows, T, NH, hs),
    );
    const bindings = [bind.dinp, bind.inp, bind.dout, bind.lse, bind.delta];
    const params = { T, C, NH, scale };
    // dq does 3 of the 7 products (S, dP, dS·K), dk·dv the other 4 (S, dP, Pᵀ·dO, dSᵀ·Q).
    const passes = [
      { label: "dq", kernel: dqKernel, products: 3, tile: tiles.dq, sides: ["BR", "BC"] },
      { label: "dk·dv", kernel: dkdvKernel, products: 4, tile: tiles.dkdv, sides: ["BC", "BR"] },
    ];
    for (const { label, kernel, products: n, tile, sides: [rows, cols] } of passes) {
      rt.group(label, { flops: n * products.flops }, () =>
        rt.dispatch({
          kernel,
          overrides: { [rows]: tile.rows, [cols]: tile.cols, TX: tile.threadsPerRowGroup ?? DEFAULT_TX, HS4: hs / 4 },
          bindings,
          params,
          groups: [Math.ceil(T / tile.rows), bc * NH],
        }));
    }
  }
}

/** Flash attention as op records: forward (out and lse) and backward (dinp from dout, inp, out, lse). */
export const flashAttention = {
  forward: defineOp({
    name: "flashAttentionForward",
    buffers: FLASH_ATTENTION_FORWARD,
    cpu: flashAttentionForward,
    gpu: (g, b, s) => flashForwardGpu(g.rt, b, s),
    work: (s) => ({ flops: 2 * s.B * s.T * s.T * s.C }), // q·kᵀ and P·v per head, causal halves of T×T×hs
  }),
  backward: defineOp({
    name: "flashAttentionBackward",
    buffers: FLASH_ATTENTION_BACKWARD,
    cpu: flashAttentionBackward,
    gpu: (g, b, s) => flashBackwardGpu(g.rt, b, s),
    // dq: q·kᵀ (recomputed), dout·vᵀ, dS·k; dk·dv: the same two again, Pᵀ·dout, dSᵀ·q.
    work: (s) => ({ flops: 7 * s.B * s.T * s.T * s.C }),
  }),
};
