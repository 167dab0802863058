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
import { gelu } from "../layers/gelu.ts";
import { layernorm } from "../layers/layernorm.ts";
import { matmul } from "../layers/matmul.ts";
import { residual } from "../layers/residual.ts";
import type { Executor } from "./executor.ts";
import { declare, type Shape, type TensorDecls } from "./module.ts";

/** Sizes a block is planned for. */
export interface BlockDims {
  B: number;
  T: number;
  C: number;
  NH: number;
}

// deno-fmt-ignore
/** A block parameter's name (llm.c's order). */
export type BlockParam =
  | "ln1w" | "ln1b" | "qkvw" | "qkvb" | "attprojw" | "attprojb" | "ln2w" | "ln2b" | "fcw" | "fcb" | "fcprojw" | "fcprojb";
// deno-fmt-ignore
/** A block activation's name. */
export type BlockAct =
  | "ln1" | "ln1Mean" | "ln1Rstd" | "qkv" | "atty" | "attproj" | "residual2"
  | "ln2" | "ln2Mean" | "ln2Rstd" | "fch" | "fchGelu" | "fcproj" | "residual3";
/** The forward scratch every block shares. */
export type BlockShared = "preatt" | "att";
/** A block activation-gradient buffer's name. */
export type BlockGrad = "dresidual" | "dln" | "datty" | "dqkv" | "dfchGelu" | "dfch" | "dpreatt" | "datt";

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
  const { B, T, C, NH } = d;
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
      ln1: [B, T, C], ln1Mean: [B, T], ln1Rstd: [B, T],
      qkv: [B, T, 3 * C], atty: [B, T, C], attproj: [B, T, C], residual2: [B, T, C],
      ln2: [B, T, C], ln2Mean: [B, T], ln2Rstd: [B, T],
      fch: [B, T, 4 * C], fchGelu: [B, T, 4 * C], fcproj: [B, T, C], residual3: [B, T, C],
    },
    // The attention scores are not kept per layer: one (B, NH, T, T) pair serves every block, and backward
    // recomputes a block's softmax from its qkv before using it. Nothing larger than B·NH·T·T is stored.
    shared: { preatt: [B, NH, T, T], att: [B, NH, T, T] },
    // deno-fmt-ignore
    grads: {
      dresidual: [B, T, C], // the residual stream's gradient, carried down through every block
      dln: [B, T, C], // gradient of a layernorm output
      datty: [B, T, C], dqkv: [B, T, 3 * C], dfchGelu: [B, T, 4 * C], dfch: [B, T, 4 * C],
      dpreatt: [B, NH, T, T], datt: [B, NH, T, T], // attention backward scratch
    },
  });
}

/** The views one block works on: its own parameters, gradients and activations, and the shared buffers. */
export interface BlockViews<F> {
  p: Record<BlockParam, F>;
  g: Record<BlockParam, F>;
  a: Record<BlockAct, F>;
  shared: Record<BlockShared, F>;
  d: Record<BlockGrad, F>;
}

/** Rows `start … start + count - 1` of a B = 1 sequence (incremental decoding); undefined: all B·T rows. */
export interface RowRange {
  start: number;
  count: number;
}

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
   */
  forward(x: F, rows?: RowRange): void {
    const { C, NH, B, T } = this.#dims;
    const { p, a, shared } = this.#v;
    const exec = this.#exec;
    const N = rows ? rows.count : B * T;
    const r = (t: F, width: number) => rows ? exec.view(t, rows.start * width, rows.count * width) : t;
    const ln1 = r(a.ln1, C), qkv = r(a.qkv, 3 * C), atty = r(a.atty, C), attproj = r(a.attproj, C);
    const ln2 = r(a.ln2, C), fch = r(a.fch, 4 * C), fchGelu = r(a.fchGelu, 4 * C), fcproj = r(a.fcproj, C);
    exec.run(layernorm.forward, {
      out: ln1,
      mean: r(a.ln1Mean, 1),
      rstd: r(a.ln1Rstd, 1),
      inp: x,
      weight: p.ln1w,
      bias: p.ln1b,
    }, { N, C });
    exec.run(matmul.forward, { out: qkv, inp: ln1, weight: p.qkvw, bias: p.qkvb }, { N, C, OC: 3 * C });
    if (!rows) {
      exec.run(attention.forward, { out: a.atty, preatt: shared.preatt, att: shared.att, inp: a.qkv }, { B, T, C, NH });
    } else if (rows.start === 0) {
      // A prefix: causal attention over rows 0 … count-1 is the training kernel at T = count.
      const scores = rows.count * rows.count * NH;
      const [preatt, att] = [exec.view(shared.preatt, 0, scores), exec.view(shared.att, 0, scores)];
      exec.run(attention.forward, { out: atty, preatt, att, inp: qkv }, { B: 1, T: rows.count, C, NH });
    } else {
      for (let pos = rows.start; pos < rows.start + rows.count; pos++) {
        const inp = exec.view(a.qkv, 0, (pos + 1) * 3 * C); // the KV cache: qkv rows 0 … pos
        exec.run(attention.decode, { out: exec.view(a.atty, pos * C, C), inp }, { pos, C, NH });
      }
    }
    exec.run(matmul.forward, { out: attproj, inp: atty, weight: p.attprojw, bias: p.attprojb }, { N, C, OC: C });
    const residual2 = r(a.residual2, C);
    exec.run(residual.forward, { out: residual2, inp1: x, inp2: attproj }, { N: N * C });
    exec.run(layernorm.forward, {
      out: ln2,
      mean: r(a.ln2Mean, 1),
      rstd: r(a.ln2Rstd, 1),
      inp: residual2,
      weight: p.ln2w,
      bias: p.ln2b,
    }, { N, C });
    exec.run(matmul.forward, { out: fch, inp: ln2, weight: p.fcw, bias: p.fcb }, { N, C, OC: 4 * C });
    exec.run(gelu.forward, { out: fchGelu, inp: fch }, { N: N * 4 * C });
    exec.run(matmul.forward, { out: fcproj, inp: fchGelu, weight: p.fcprojw, bias: p.fcprojb }, {
      N,
      C: 4 * C,
      OC: C,
    });
    exec.run(residual.forward, { out: r(a.residual3, C), inp1: residual2, inp2: fcproj }, { N: N * C });
  }

  /**
   * Backward pass over all rows. On entry `d.dresidual` holds d(loss)/d(residual3); on exit, d(loss)/d(x).
   * Parameter gradients are added to `g`.
   *
   * @param x The block's input of the forward pass.
   * @param scoresHold Whether the shared attention scores still hold this block's (true for the last block run
   *   forward); otherwise they are recomputed from `qkv` first, bit-identical to the forward pass.
   */
  backward(x: F, scoresHold: boolean): void {
    const { C, NH, B, T } = this.#dims;
    const { p, g, a, shared, d } = this.#v;
    const exec = this.#exec;
    const N = B * T;
    residualBackward(d.dresidual, (dout, dinp) => { // residual3 = residual2 + mlp(ln2(residual2))
      exec.run(matmul.backward, {
        dinp: d.dfchGelu,
        dweight: g.fcprojw,
        dbias: g.fcprojb,
        dout,
        inp: a.fchGelu,
        weight: p.fcprojw,
      }, { N, C: 4 * C, OC: C });
      exec.run(gelu.backward, { dinp: d.dfch, inp: a.fch, dout: d.dfchGelu }, { N: N * 4 * C });
      exec.run(matmul.backward, {
        dinp: d.dln,
        dweight: g.fcw,
        dbias: g.fcb,
        dout: d.dfch,
        inp: a.ln2,
        weight: p.fcw,
      }, { N, C, OC: 4 * C });
      exec.run(layernorm.backward, {
        dinp,
        dweight: g.ln2w,
        dbias: g.ln2b,
        dout: d.dln,
        inp: a.residual2,
        weight: p.ln2w,
        mean: a.ln2Mean,
        rstd: a.ln2Rstd,
      }, { N, C });
    });
    residualBackward(d.dresidual, (dout, dinp) => { // residual2 = x + attention(ln1(x))
      exec.run(matmul.backward, {
        dinp: d.datty,
        dweight: g.attprojw,
        dbias: g.attprojb,
        dout,
        inp: a.atty,
        weight: p.attprojw,
      }, { N, C, OC: C });
      if (!scoresHold) {
        exec.run(attention.forward, { out: a.atty, preatt: shared.preatt, att: shared.att, inp: a.qkv }, {
          B,
          T,
          C,
          NH,
        });
      }
      exec.run(attention.backward, {
        dinp: d.dqkv,
        dpreatt: d.dpreatt,
        datt: d.datt,
        dout: d.datty,
        inp: a.qkv,
        att: shared.att,
      }, { B, T, C, NH });
      exec.run(matmul.backward, {
        dinp: d.dln,
        dweight: g.qkvw,
        dbias: g.qkvb,
        dout: d.dqkv,
        inp: a.ln1,
        weight: p.qkvw,
      }, { N, C, OC: 3 * C });
      exec.run(layernorm.backward, {
        dinp,
        dweight: g.ln1w,
        dbias: g.ln1b,
        dout: d.dln,
        inp: x,
        weight: p.ln1w,
        mean: a.ln1Mean,
        rstd: a.ln1Rstd,
      }, { N, C });
    });
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
