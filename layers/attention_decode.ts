/**
 * Incremental decoding: causal attention of query rows over the qkv rows before them, which serve as the KV cache
 * (`attention.decode` in `layers/attention.ts`). The rows may interleave several samples decoded together,
 * position-major: with S samples, row r holds position ⌊r / S⌋ of sample r mod S, so one position of every sample is
 * S consecutive rows (one batched step), and the query in row r attends to rows q·S + (r mod S), q ≤ ⌊r / S⌋.
 *
 * Forms: `cpu` is `attentionDecode` below (with S = 1, row `pos` of the reference `attentionForward` without the
 * saved scores); `gpu` is `kernels/attention_decode.wgsl`, one workgroup per (query row, head), or per (query row,
 * head, chunk of positions) over a long prefix with `kernels/attention_decode_combine.wgsl` merging the chunks. The
 * CPU backend runs the scalar form.
 *
 * @module
 */
import attentionDecodeSrc from "../kernels/attention_decode.wgsl" with { type: "text" };
import attentionDecodeCombineSrc from "../kernels/attention_decode_combine.wgsl" with { type: "text" };
import reduceSrc from "../kernels/_reduce.wgsl" with { type: "text" };
import { wgslKernel } from "../gpu/kernel.ts";
import type { GpuRuntime } from "../gpu/runtime.ts";
import type { DecodeSplit } from "../gpu/executor.ts";
import { bindRange } from "../gpu/tensor.ts";
import { zeroedScratch } from "./_scratch.ts";
import { type BufferSpec, type CpuBuffers, defineOp, type GpuBuffers } from "./_op.ts";

/** Decoding: out (count, C) of the query rows row … row + count - 1 of inp, over the rows before them (the KV cache). */
export const ATTENTION_DECODE = { out: "f32", inp: "f32" } as const satisfies BufferSpec;

/** Which query rows a decode step computes, and how the rows interleave samples. */
export interface AttentionDecodeSizes {
  /** The first query row of inp (with one sample: its position). */
  row: number;
  /** Query rows (default 1). */
  count?: number;
  /** Samples interleaved position-major (default 1): row r is position ⌊r / samples⌋ of sample r mod samples. */
  samples?: number;
  C: number;
  NH: number;
}

/** Decoding: causal attention of query rows over the qkv rows of their sample's earlier positions (the KV cache). */
const attentionDecodeKernel = wgslKernel(attentionDecodeSrc + reduceSrc);
/** The merge of a long prefix's chunks (one workgroup per query row and head). */
const attentionDecodeCombineKernel = wgslKernel(attentionDecodeCombineSrc);

/** Largest scratch a GPU decode dispatch uses for its attention weights (floats); more query rows take more calls. */
const SCRATCH_FLOATS = 1 << 24;

/**
 * Decoding: for each query row r in [row, row + count), causal attention over the rows of its sample at positions
 * 0 … ⌊r / S⌋ (S = samples), the same arithmetic as row ⌊r / S⌋ of `attentionForward` over that sample's sequence
 * (float64 dot products and softmax) without the saved scores. The key and value rows are read in place from `inp`,
 * which is what makes them a KV cache.
 *
 * @param b `out` (count, C) written; `inp` (≥ row + count rows of 3C), the qkv rows.
 * @param s The query rows, the samples, C and NH (C divisible by NH).
 * @example
 * ```ts
 * import { attentionDecode } from "./attention_decode.ts";
 * // Two positions with equal scores: out is the mean of the two values.
 * const inp = new Float32Array([1, 1, 2, 1, 1, 4]);
 * const out = new Float32Array(1);
 * attentionDecode({ out, inp }, { row: 1, C: 1, NH: 1 });
 * if (out[0] !== 3) throw new Error("wrong attention");
 * ```
 */
export function attentionDecode(b: CpuBuffers<typeof ATTENTION_DECODE>, s: AttentionDecodeSizes): void {
  const { out, inp } = b;
  const { row, count = 1, samples: S = 1, C, NH } = s;
  const hs = C / NH;
  const scale = 1 / Math.sqrt(hs);
  const C3 = 3 * C;
  if (inp.length < (row + count) * C3 || out.length < count * C) {
    throw new RangeError(`attentionDecode: inp needs ${(row + count) * C3} elements and out ${count * C}`);
  }
  const weights = zeroedScratch(0, Math.floor((row + count - 1) / S) + 1);
  const acc = zeroedScratch(1, hs);
  for (let j = 0; j < count; j++) {
    const r = row + j;
    const [pos, sample] = [Math.floor(r / S), r % S];
    for (let h = 0; h < NH; h++) {
      const query = r * C3 + h * hs;
      let max = -Infinity;
      for (let t2 = 0; t2 <= pos; t2++) {
        const key = (t2 * S + sample) * C3 + C + h * hs;
        let dot = 0;
        for (let i = 0; i < hs; i++) dot += inp[query + i] * inp[key + i];
        const score = dot * scale;
        weights[t2] = score;
        if (score > max) max = score;
      }
      let expSum = 0;
      for (let t2 = 0; t2 <= pos; t2++) {
        const e = Math.exp(weights[t2] - max);
        weights[t2] = e;
        expSum += e;
      }
      for (let t2 = 0; t2 <= pos; t2++) weights[t2] /= expSum;
      acc.fill(0);
      for (let t2 = 0; t2 <= pos; t2++) {
        const value = (t2 * S + sample) * C3 + 2 * C + h * hs;
        const w = weights[t2];
        for (let i = 0; i < hs; i++) acc[i] += w * inp[value + i];
      }
      out.set(acc, j * C + h * hs);
    }
  }
}

/**
 * GPU decoding: one dispatch per group of query rows whose attention weights fit the scratch bound (one dispatch
 * when decoding; a long prompt of several samples takes a few). The weights pass through the runtime's scratch
 * buffer (NH·(positions) floats per query row). A prefix longer than `split.above` positions is split into
 * ⌈positions / split.chunk⌉ chunks, one workgroup each per head (a few heads' serial loops over ~1,000 positions would leave most of a
 * large GPU idle), and `attention_decode_combine.wgsl` merges their partial sums, also kept in the scratch buffer.
 */
function attentionDecodeGpu(
  rt: GpuRuntime,
  b: GpuBuffers<typeof ATTENTION_DECODE>,
  s: AttentionDecodeSizes,
  split: DecodeSplit,
): void {
  const { row, count = 1, samples: S = 1, C, NH } = s;
  const hs = C / NH;
  const maxGroups = rt.limits.maxComputeWorkgroupsPerDimension;
  const positions = Math.floor((row + count - 1) / S) + 1; // the longest prefix any of these rows reads
  const chunk = split.chunk;
  const chunks = positions > split.above ? Math.ceil(positions / chunk) : 1;
  const perRow = NH * positions + (chunks > 1 ? NH * chunks * (hs + 2) : 0); // weights, then the chunks' partials
  for (let first = 0; first < count;) {
    const rows = Math.max(1, Math.min(count - first, Math.floor(SCRATCH_FLOATS / perRow), maxGroups));
    const att = rt.scratch(rows * perRow);
    const partials = rows * NH * positions;
    const out = bindRange(b.out, first * C, rows * C, rt.limits);
    rt.dispatch({
      kernel: attentionDecodeKernel,
      bindings: [
        out,
        bindRange(att, 0, rows * perRow, rt.limits),
        bindRange(b.inp, 0, (row + first + rows) * 3 * C, rt.limits),
      ],
      params: {
        row: row + first,
        samples: S,
        positions,
        C,
        NH,
        scale: 1 / Math.sqrt(hs),
        chunk: chunks > 1 ? chunk : positions,
        partials,
      },
      groups: [NH, rows, chunks],
    });
    if (chunks > 1) {
      rt.dispatch({
        kernel: attentionDecodeCombineKernel,
        bindings: [out, bindRange(att, 0, rows * perRow, rt.limits)],
        params: { chunks, partials, C, NH },
        groups: [NH, rows],
      });
    }
    first += rows;
  }
}

/** The decode step as an op record. */
export const attentionDecodeOp = defineOp({
  name: "attentionDecode",
  buffers: ATTENTION_DECODE,
  cpu: attentionDecode,
  gpu: (g, b, s) => attentionDecodeGpu(g.rt, b, s, g.decodeSplit),
  work: (s) => {
    // q·k and w·v over each query row's prefix
    let flops = 0;
    for (let r = s.row; r < s.row + (s.count ?? 1); r++) flops += 4 * (Math.floor(r / (s.samples ?? 1)) + 1) * s.C;
    return { flops };
  },
});
