/**
 * The transformer block of GPT-2 as a module: its tensors, and one forward walk that serves both training (all B·T
 * rows) and incremental decoding (a range of rows of a B = 1 sequence), plus the backward walk.
 *
 *   x ─┬─ ln1 ─ qkv ─ attention ─ attproj ─(+)─ residual2 ─┬─ ln2 ─ fc ─ gelu ─ fcproj ─(+)─ residual3
 *      └───────────────────────────────────┘               └──────────────────────────────┘
 *
 * Each branch is a residual step: out = x + branch(x). The rule of the residual stream's gradient is stated once,
 * in `residualBackward`: the branch's last op reads the stream's gradient as its output gradient, and the branch's
 * first op (a layernorm) ADDS its input gradient to it, so afterwards it holds d(loss)/d(x).
 *
 * @module
 */
import { attention } from "../layers/attention.ts";
import { flashAttention } from "../layers/flash_attention.ts";
import { gelu } from "../layers/gelu.ts";
import { layernorm } from "../layers/layernorm.ts";
import { matmul } from "../layers/matmul.ts";
import { residual } from "../layers/residual.ts";
import type { Executor } from "./executor.ts";
import { declare, type Shape, type TensorDecls } from "./module.ts";
import type { RowRange } from "./rows.ts";
import { UsageError } from "../util/errors.ts";

export type { RowRange } from "./rows.ts";

/**
 * How a block computes attention: "materialized" keeps the (B,NH,T,T) scores and probabilities (one pair shared by
 * every block, recomputed in backward); "flash" never forms them (layers/flash_attention.ts: online softmax, the rows'
 * log-sum-exp kept per block for backward).
 */
export type AttentionKind = "materialized" | "flash";

/**
 * Checks an `--attention` value.
 *
 * @param value The flag's text.
 * @returns The kind.
 * @throws UsageError for anything else.
 */
export function parseAttentionKind(value: string): AttentionKind {
  if (value === "materialized" || value === "flash") return value;
  throw new UsageError(`--attention: unknown kind '${value}'; use materialized or flash`);
}

/** Sizes a block is planned for, and its attention. */
export interface BlockDims {
  B: number;
  T: number;
  C: number;
  NH: number;
  /** "materialized" when absent. */
  attention?: AttentionKind;
  /**
   * Rows in flight of an inference model (see `ModelPlanOptions.rowsInFlight`): every activation but qkv, the KV
   * cache, holds this many rows instead of B·T. Absent: all B·T rows.
   */
  rows?: number;
}

// deno-fmt-ignore
/** A block parameter's name (llm.c's order). */
export type BlockParam =
  | "ln1w" | "ln1b" | "qkvw" | "qkvb" | "attprojw" | "attprojb" | "ln2w" | "ln2b" | "fcw" | "fcb" | "fcprojw" | "fcprojb";
// deno-fmt-ignore
/** A block activation's name. */
export type BlockAct =
  | "ln1" | "ln1Mean" | "ln1Rstd" | "qkv" | "atty" | "attLse" | "attproj" | "residual2"
  | "ln2" | "ln2Mean" | "ln2Rstd" | "fch" | "fchGelu" | "fcproj" | "residual3";
/** The forward scratch every block shares. */
export type BlockShared = "preatt" | "att";
/** A block activation-gradient buffer's name. */
export type BlockGrad = "dresidual" | "dln" | "datty" | "dqkv" | "dfchGelu" | "dfch" | "dpreatt";

/** What a block declares; the compiler checks that `blockTensors` declares every one of these names. */
export type BlockTensors = TensorDecls<
  Record<BlockParam, Shape>,
  Record<BlockAct, Shape>,
  Record<BlockShared, Shape>,
  Record<BlockGrad, Shape>
>;

/**
 * The tensors of one block (stack it L times for the model).
 *
 * @param d Batch, sequence, channels, heads.
 * @returns The declarations.
 */
export function blockTensors(d: BlockDims): BlockTensors {
  const { B, T, C, NH, rows } = d;
  // Each kind plans what it uses; the other's tensors stay declared (so every name exists) at one element.
  const flash = d.attention === "flash";
  const scores: Shape = flash ? [1] : rows ? [NH, rows, rows] : [B, NH, T, T];
  const R: Shape = rows ? [rows] : [B, T]; // the rows of every activation but the KV cache
  return declare({
    // deno-fmt-ignore
    params: {
      ln1w: [C], ln1b: [C],
      qkvw: [3 * C, C], qkvb: [3 * C], // rows: q, k, v for all heads
      attprojw: [C, C], attprojb: [C],
      ln2w: [C], ln2b: [C],
      fcw: [4 * C, C], fcb: [4 * C],
      fcprojw: [C, 4 * C], fcprojb: [C],
    },
    // deno-fmt-ignore
    acts: {
      ln1: [...R, C], ln1Mean: R, ln1Rstd: R,
      qkv: [B, T, 3 * C], // every position's: the KV cache when decoding
      atty: [...R, C], attLse: rows ? (flash ? [NH, rows] : [1]) : [B, NH, T], attproj: [...R, C], residual2: [...R, C],
      ln2: [...R, C], ln2Mean: R, ln2Rstd: R,
      fch: [...R, 4 * C], fchGelu: [...R, 4 * C], fcproj: [...R, C], residual3: [...R, C],
    },
    // Materialized attention does not keep the scores per layer: one (B, NH, T, T) pair serves every block, and
    // backward recomputes a block's probabilities from its qkv and attLse (the rows' log-sum-exp, which the forward
    // keeps) before using them. Flash attention keeps only attLse.
    shared: { preatt: scores, att: scores },
    // deno-fmt-ignore
    grads: {
      dresidual: [B, T, C], // the residual stream's gradient, carried down through every block
      dln: [B, T, C], // gradient of a layernorm output
      datty: [B, T, C], dqkv: [B, T, 3 * C], dfchGelu: [B, T, 4 * C], dfch: [B, T, 4 * C],
      // Materialized attention's backward scratch. Its other one, datt, is the shared preatt: backward never reads a
      // block's preatt (the CPU's recompute of att is done with it first; the GPU's makes att without it), and the
      // GPU's fused backward writes no datt at all.
      dpreatt: scores,
    },
  });
}

/**
 * The views one block works on: its own parameters (and their f16 copies in an f16 model) and activations, the
 * shared buffers, and for training its parameter gradients and the activation-gradient buffers (absent in a model
 * built for inference).
 */
export interface BlockViews<F> {
  p: Record<BlockParam, F>;
  /** The f16 copies of the parameters (the linear layers read their weights from it), in an f16 model. */
  w16?: Record<BlockParam, F>;
  a: Record<BlockAct, F>;
  shared: Record<BlockShared, F>;
  training?: { g: Record<BlockParam, F>; d: Record<BlockGrad, F> };
}

/** What a linear layer of the block reads and writes: activations, and its widths in units of C. */
interface LinearTensors {
  inp: BlockAct;
  out: BlockAct;
  /** The gradient of `inp`, which its backward writes. */
  dinp: BlockGrad;
  width: number;
  outWidth: number;
}

/** The block's four linear layers by parameter prefix (`qkvw`, `qkvb`, …). */
const LINEARS = {
  qkv: { inp: "ln1", out: "qkv", dinp: "dln", width: 1, outWidth: 3 },
  attproj: { inp: "atty", out: "attproj", dinp: "datty", width: 1, outWidth: 1 },
  fc: { inp: "ln2", out: "fch", dinp: "dln", width: 1, outWidth: 4 },
  fcproj: { inp: "fchGelu", out: "fcproj", dinp: "dfchGelu", width: 4, outWidth: 1 },
} as const satisfies Record<string, LinearTensors>;
type Linear = keyof typeof LINEARS;
/** The block's two layernorms by prefix (`ln1w`, `ln1Mean`, …; the output activation is the prefix itself). */
type Norm = "ln1" | "ln2";

/** One transformer block on an executor. */
export class TransformerBlock<F, I> {
  readonly #exec: Executor<F, I>;
  readonly #v: BlockViews<F>;
  readonly #dims: BlockDims;

  /**
   * @param exec The backend.
   * @param views This block's tensors (see `BlockViews`).
   * @param dims The sizes the tensors were planned for.
   */
  constructor(exec: Executor<F, I>, views: BlockViews<F>, dims: BlockDims) {
    this.#exec = exec;
    this.#v = views;
    this.#dims = dims;
  }

  /** The block's output, `residual3` (all rows). */
  get output(): F {
    return this.#v.a.residual3;
  }

  /**
   * Forward pass: `x` (the residual stream entering the block) to `residual3`.
   *
   * @param x The block's input, over the same rows as `rows` selects.
   * @param rows All rows (training), or a range of a B = 1 sequence (decoding: attention reads the cached qkv
   *   rows of the positions before the range).
   * @param keepScores Whether the backward pass will read this block's attention probabilities as the forward pass
   *   leaves them (the last block: `backward`'s `scoresHold`), so materialized attention must write them.
   */
  forward(x: F, rows?: RowRange, keepScores = false): void {
    const { C, B, T } = this.#dims;
    const { a } = this.#v;
    const exec = this.#exec;
    const N = rows ? rows.count : B * T;
    const r = (t: F, width = 1) => this.#rows(t, width * C, rows);
    this.#layernorm("ln1", x, rows);
    this.#linear("qkv", rows);
    this.#attention(rows, keepScores);
    this.#linear("attproj", rows);
    exec.run(residual.forward, { out: r(a.residual2), inp1: x, inp2: r(a.attproj) }, { N: N * C });
    this.#layernorm("ln2", r(a.residual2), rows);
    this.#linear("fc", rows);
    exec.run(gelu.forward, { out: r(a.fchGelu, 4), inp: r(a.fch, 4) }, { N: N * 4 * C });
    this.#linear("fcproj", rows);
    exec.run(residual.forward, { out: r(a.residual3), inp1: r(a.residual2), inp2: r(a.fcproj) }, { N: N * C });
  }

  /**
   * Backward pass over all rows. On entry `d.dresidual` holds d(loss)/d(residual3); on exit, d(loss)/d(x).
   * Parameter gradients are added to `g`.
   *
   * @param x The block's input of the forward pass.
   * @param scoresHold Whether the shared attention scores still hold this block's (true for the last block run
   *   forward); otherwise materialized attention recomputes them from `qkv` first, bit-identical to the forward pass
   *   (flash attention needs no scores).
   */
  backward(x: F, scoresHold: boolean): void {
    const { C, NH, B, T } = this.#dims;
    const { a, shared } = this.#v;
    const { d } = this.#grads;
    const exec = this.#exec;
    residualBackward(d.dresidual, (dout, dinp) => { // residual3 = residual2 + mlp(ln2(residual2))
      this.#linearBackward("fcproj", dout);
      exec.run(gelu.backward, { dinp: d.dfch, inp: a.fch, dout: d.dfchGelu }, { N: B * T * 4 * C });
      this.#linearBackward("fc", d.dfch);
      this.#layernormBackward("ln2", dinp, a.residual2);
    });
    residualBackward(d.dresidual, (dout, dinp) => { // residual2 = x + attention(ln1(x))
      this.#linearBackward("attproj", dout);
      if (this.#dims.attention === "flash") {
        const buffers = { dinp: d.dqkv, dout: d.datty, inp: a.qkv, out: a.atty, lse: a.attLse };
        exec.run(flashAttention.backward, buffers, { B, T, C, NH });
      } else {
        if (!scoresHold) { // atty still holds this block's forward result: only the scores are recomputed
          const buffers = { out: a.atty, preatt: shared.preatt, att: shared.att, inp: a.qkv, lse: a.attLse };
          exec.run(attention.forward, buffers, { B, T, C, NH, outHolds: true });
        }
        const { dqkv, dpreatt, datty } = d;
        const datt = shared.preatt; // dead in backward (see blockTensors)
        const buffers = { dinp: dqkv, dpreatt, datt, dout: datty, inp: a.qkv, att: shared.att, out: a.atty };
        exec.run(attention.backward, buffers, { B, T, C, NH });
      }
      this.#linearBackward("qkv", d.dqkv);
      this.#layernormBackward("ln1", dinp, x);
    });
  }

  /** The gradient views (a block of an inference model has none). */
  get #grads(): { g: Record<BlockParam, F>; d: Record<BlockGrad, F> } {
    if (!this.#v.training) throw new Error("TransformerBlock.backward: this block was built for inference");
    return this.#v.training;
  }

  /**
   * `t` (rows of `width` floats), or its rows of the range: where the activations in flight hold them (from
   * `rows.base`), or at their own row for the KV cache (`cache`), which holds every row.
   */
  #rows(t: F, width: number, rows?: RowRange, cache = false): F {
    if (!rows) return t;
    const first = cache ? rows.start : rows.start - (rows.base ?? 0);
    return this.#exec.view(t, first * width, rows.count * width);
  }

  /** Causal self-attention of the rows: qkv to atty (training, a prefix, or decoding with the KV cache). */
  #attention(rows?: RowRange, keepScores = false): void {
    const { C, NH, B, T } = this.#dims;
    const { a, shared } = this.#v;
    const exec = this.#exec;
    const flash = this.#dims.attention === "flash";
    if (!rows && flash) {
      exec.run(flashAttention.forward, { out: a.atty, lse: a.attLse, inp: a.qkv }, { B, T, C, NH });
    } else if (!rows) {
      const buffers = { out: a.atty, preatt: shared.preatt, att: shared.att, inp: a.qkv, lse: a.attLse };
      exec.run(attention.forward, buffers, { B, T, C, NH, keepAtt: keepScores });
    } else if (rows.start === 0 && (rows.samples ?? 1) === 1) {
      // A prefix of one sequence: causal attention over rows 0 … count-1 is the training kernel at T = count.
      const [atty, qkv] = [this.#rows(a.atty, C, rows), this.#rows(a.qkv, 3 * C, rows, true)];
      const sizes = { B: 1, T: rows.count, C, NH };
      if (flash) {
        exec.run(flashAttention.forward, { out: atty, lse: exec.view(a.attLse, 0, NH * rows.count), inp: qkv }, sizes);
      } else {
        const scores = rows.count * rows.count * NH;
        const [preatt, att] = [exec.view(shared.preatt, 0, scores), exec.view(shared.att, 0, scores)];
        exec.run(attention.forward, { out: atty, preatt, att, inp: qkv }, sizes);
      }
    } else {
      const inp = exec.view(a.qkv, 0, (rows.start + rows.count) * 3 * C); // the KV cache: every earlier qkv row
      const out = this.#rows(a.atty, C, rows);
      exec.run(attention.decode, { out, inp }, { row: rows.start, count: rows.count, samples: rows.samples, C, NH });
    }
  }

  /** out = inp·wᵀ + b of one of the block's linear layers, over the rows. */
  #linear(name: Linear, rows?: RowRange): void {
    const { C, B, T } = this.#dims;
    const { p, w16, a } = this.#v;
    const l = LINEARS[name];
    this.#exec.run(matmul.forward, {
      out: this.#rows(a[l.out], l.outWidth * C, rows, l.out === "qkv"), // qkv rows stay: the KV cache
      inp: this.#rows(a[l.inp], l.width * C, rows),
      weight: (w16 ?? p)[`${name}w`],
      bias: p[`${name}b`],
    }, { N: rows ? rows.count : B * T, C: l.width * C, OC: l.outWidth * C });
  }

  /** A linear layer's backward: its input's gradient written, its weight and bias gradients accumulated. */
  #linearBackward(name: Linear, dout: F): void {
    const { C, B, T } = this.#dims;
    const { p, w16, a } = this.#v;
    const { g, d } = this.#grads;
    const l = LINEARS[name];
    this.#exec.run(matmul.backward, {
      dinp: d[l.dinp],
      dweight: g[`${name}w`],
      dbias: g[`${name}b`],
      dout,
      inp: a[l.inp],
      weight: (w16 ?? p)[`${name}w`],
    }, { N: B * T, C: l.width * C, OC: l.outWidth * C });
  }

  /** One of the block's layernorms over the rows, `inp` to the activation named `name`. */
  #layernorm(name: Norm, inp: F, rows?: RowRange): void {
    const { C, B, T } = this.#dims;
    const { p, a } = this.#v;
    this.#exec.run(layernorm.forward, {
      out: this.#rows(a[name], C, rows),
      mean: this.#rows(a[`${name}Mean`], 1, rows),
      rstd: this.#rows(a[`${name}Rstd`], 1, rows),
      inp,
      weight: p[`${name}w`],
      bias: p[`${name}b`],
    }, { N: rows ? rows.count : B * T, C });
  }

  /** A layernorm's backward: d(ln) = d.dln to `dinp` (accumulated), its weight and bias gradients accumulated. */
  #layernormBackward(name: Norm, dinp: F, inp: F): void {
    const { C, B, T } = this.#dims;
    const { p, a } = this.#v;
    const { g, d } = this.#grads;
    this.#exec.run(layernorm.backward, {
      dinp,
      dweight: g[`${name}w`],
      dbias: g[`${name}b`],
      dout: d.dln,
      inp,
      weight: p[`${name}w`],
      mean: a[`${name}Mean`],
      rstd: a[`${name}Rstd`],
    }, { N: B * T, C });
  }
}

/**
 * The backward of a residual step out = x + branch(x), with the stream's gradient in one buffer: the identity path
 * needs nothing (d(x) starts as d(out), already there), and the branch reads that buffer as the gradient of its
 * output (`dout`) and ADDS the gradient of its input to it (`dinp`: its first op, a layernorm, accumulates). No copy
 * is made, and afterwards the buffer holds d(loss)/d(x).
 *
 * @param stream The residual stream's gradient: d(out) on entry, d(x) on exit.
 * @param branch The branch's backward ops, given where to read their output gradient and add their input gradient.
 */
export function residualBackward<F>(stream: F, branch: (dout: F, dinp: F) => void): void {
  branch(stream, stream);
}
