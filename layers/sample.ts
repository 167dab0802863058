/**
 * Sampling the next token where the logits are, so that generation on the GPU never waits for a logits row: the
 * chosen id is written into the next position's input token and into a list of sampled ids, read back in chunks.
 *
 * Forms: `cpu` is train/sampler.ts's `sampleToken` itself (float64); there is no `wasm` form; `gpu` dispatches one
 * workgroup per sample of kernels/sample_token.wgsl (greedy, or temperature alone: one pass for the sum, a scan for the coin) or
 * of kernels/sample_ranked.wgsl (top-k and top-p: the ranking's cuts found by bisection, no sort). Its sums are
 * float32, so a token can differ from the CPU's only when a cut or the coin falls within float32 rounding of a
 * boundary of the cumulative distribution.
 *
 * @module
 */
import reduceSrc from "../kernels/_reduce.wgsl" with { type: "text" };
import sampleSharedSrc from "../kernels/_sample.wgsl" with { type: "text" };
import sampleRankedSrc from "../kernels/sample_ranked.wgsl" with { type: "text" };
import sampleTokenSrc from "../kernels/sample_token.wgsl" with { type: "text" };
import { wgslKernel } from "../gpu/kernel.ts";
import { bindRange } from "../gpu/tensor.ts";
import { sampleToken } from "../train/sampler.ts";
import { type BufferSpec, type CpuBuffers, defineOp } from "./_op.ts";

/**
 * Sampling: for each of `samples` rows of `logits` (V of each used, `rowStride` apart), with the uniform
 * `coins[step + s]`, the id goes to `sampled[step + s]` (as a float) and, with `writeToken`, to `tokens[tokenAt + s]`.
 */
export const SAMPLE_TOKEN = {
  tokens: "i32",
  sampled: "f32",
  logits: "f32",
  coins: "f32",
} as const satisfies BufferSpec;

/** Sizes and settings of one draw. */
export interface SampleSizes {
  /** Vocabulary size (columns of the row that can be drawn). */
  V: number;
  /** Index into `coins` and `sampled` of the first row's draw. */
  step: number;
  /** Where in `tokens` the first row's id goes (the next position; the other rows' follow it). */
  tokenAt: number;
  /** Rows drawn from at once, one per sample (default 1). */
  samples?: number;
  /** Elements from one logits row to the next (the padded vocabulary, Vp); needed when samples > 1. */
  rowStride?: number;
  /** false: the sampled position is the last one, with no next input to write. */
  writeToken: boolean;
  /** 0: the argmax. */
  temperature: number;
  /** Keep only the k most likely tokens (0: all). */
  topK?: number;
  /** Keep the smallest set of tokens whose probability reaches p (1: all). */
  topP?: number;
}

/** One draw on one logits row: greedy or temperature alone. */
const sampleTokenKernel = wgslKernel(sampleTokenSrc + sampleSharedSrc);
/** One draw with top-k and/or top-p. */
const sampleRankedKernel = wgslKernel(sampleRankedSrc + sampleSharedSrc + reduceSrc);

/** Whether a draw cuts the ranking (top-k below V, or top-p below 1) rather than sampling every token. */
function ranked(s: SampleSizes): boolean {
  return s.temperature > 0 && ((s.topK ?? 0) > 0 && (s.topK ?? 0) < s.V || (s.topP ?? 1) < 1);
}

/**
 * The scalar form: `sampleToken` on the row with coin `coins[step]`.
 *
 * @param b The buffers (see `SAMPLE_TOKEN`).
 * @param s Sizes and temperature.
 * @example
 * ```ts
 * import { sampleTokenOp } from "./sample.ts";
 * const tokens = new Int32Array(2), sampled = new Float32Array(1);
 * sampleTokenOp({ tokens, sampled, logits: new Float32Array([0, 5, 1]), coins: new Float32Array([0.5]) },
 *   { V: 3, step: 0, tokenAt: 1, writeToken: true, temperature: 0 });
 * if (tokens[1] !== 1 || sampled[0] !== 1) throw new Error("greedy takes the largest logit");
 * ```
 */
export function sampleTokenOp(b: CpuBuffers<typeof SAMPLE_TOKEN>, s: SampleSizes): void {
  const options = { temperature: s.temperature, topK: s.topK, topP: s.topP };
  for (let row = 0; row < samplesOf(s); row++) {
    const logits = b.logits.subarray(row * (s.rowStride ?? 0));
    const token = sampleToken(logits, s.V, b.coins[s.step + row], options);
    b.sampled[s.step + row] = token;
    if (s.writeToken) b.tokens[s.tokenAt + row] = token;
  }
}

/** Samples drawn, checked against the row stride they need. */
function samplesOf(s: SampleSizes): number {
  const S = s.samples ?? 1;
  if (S > 1 && !((s.rowStride ?? 0) >= s.V)) throw new RangeError(`sample.token: ${S} rows need a rowStride ≥ V`);
  return S;
}

/** The draw as an op record. */
export const sample = {
  token: defineOp({
    name: "sampleToken",
    buffers: SAMPLE_TOKEN,
    cpu: sampleTokenOp,
    gpu: (g, b, s) => {
      const S = samplesOf(s);
      g.rt.dispatch({
        kernel: ranked(s) ? sampleRankedKernel : sampleTokenKernel,
        bindings: [
          bindRange(b.tokens, s.writeToken ? s.tokenAt : 0, S, g.rt.limits),
          bindRange(b.sampled, s.step, S, g.rt.limits),
          bindRange(b.logits, 0, (S - 1) * (s.rowStride ?? 0) + s.V, g.rt.limits),
          bindRange(b.coins, s.step, S, g.rt.limits),
        ],
        params: {
          V: s.V,
          step: 0,
          token_at: 0,
          write_token: Number(s.writeToken),
          temperature: s.temperature,
          top_k: s.topK ?? 0,
          top_p: s.topP ?? 1,
          row_stride: s.rowStride ?? 0,
        },
        groups: [S],
      });
    },
    work: (s) => ({ bytes: 8 * s.V * (s.samples ?? 1) }),
  }),
};
