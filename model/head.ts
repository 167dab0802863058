/**
 * GPT-2's head as ops over the model's tensors: the final layernorm and the tied vocabulary projection (wte) of the
 * last block's output, the fused classifier's loss, and their backward, which turns the logits into their gradient
 * in place and starts the residual stream's gradient (see `headTensors` in tensors.ts for what it declares).
 *
 * @module
 */
import { encoder } from "../layers/encoder.ts";
import { zero } from "../layers/fill.ts";
import { layernorm } from "../layers/layernorm.ts";
import { matmul } from "../layers/matmul.ts";
import { softmaxCrossEntropy } from "../layers/softmax_crossentropy.ts";
import type { GPT2Config } from "./config.ts";
import type { Executor } from "./executor.ts";
import type { ModelTensors, TrainingTensors } from "./layout.ts";
import type { RowRange } from "./rows.ts";

/**
 * Final layernorm and logits of all B·T rows, or of `rows` (where the activations in flight hold them).
 *
 * @param exec The backend.
 * @param t The model's tensors.
 * @param cfg Model shape.
 * @param x The last block's output.
 * @param N Rows of a whole batch (B·T), used without `rows`.
 * @param rows The rows of a decoding pass.
 */
export function headForward<F, I>(
  exec: Executor<F, I>,
  t: ModelTensors<F, I>,
  cfg: GPT2Config,
  x: F,
  N: number,
  rows?: RowRange,
): void {
  const { channels: C, paddedVocabSize: Vp } = cfg;
  const { params, acts } = t;
  const first = rows ? rows.start - (rows.base ?? 0) : 0; // where the activations in flight hold the rows
  const r = (v: F, width: number) => rows ? exec.view(v, first * width, rows.count * width) : v;
  const n = rows ? rows.count : N;
  const lnf = r(acts.lnf, C);
  exec.run(layernorm.forward, {
    out: lnf,
    mean: r(acts.lnfMean, 1),
    rstd: r(acts.lnfRstd, 1),
    inp: r(x, C),
    weight: params.lnfw,
    bias: params.lnfb,
  }, { N: n, C });
  const wte = t.weights16?.byName.wte ?? params.wte; // the classifier reads the f16 copy in an f16 model
  exec.run(matmul.forward, { out: r(acts.logits, Vp), inp: lnf, weight: wte }, { N: n, C, OC: Vp });
}

/** The per-row losses and log-sum-exps of the N rows' logits against the targets. */
export function headLoss<F, I>(exec: Executor<F, I>, t: ModelTensors<F, I>, cfg: GPT2Config, N: number): void {
  const { vocabSize: V, paddedVocabSize: Vp } = cfg;
  const { acts } = t;
  exec.run(
    softmaxCrossEntropy.forward,
    { losses: acts.losses, lse: acts.lse, logits: acts.logits, targets: t.targets },
    {
      N,
      V,
      Vp,
    },
  );
}

/**
 * The head's backward for the mean loss times `lossScale`: the logits become their gradient in place, wte's and the
 * final layernorm's gradients are added, and the residual stream's gradient (`dresidual`) is written from scratch.
 *
 * @param exec The backend.
 * @param t The model's tensors.
 * @param training Their gradients (a training model's).
 * @param cfg Model shape.
 * @param x The last block's output (the final layernorm's input).
 * @param N Rows (B·T).
 * @param lossScale Multiplies the loss being differentiated.
 */
export function headBackward<F, I>(
  exec: Executor<F, I>,
  t: ModelTensors<F, I>,
  training: TrainingTensors<F>,
  cfg: GPT2Config,
  x: F,
  N: number,
  lossScale: number,
): void {
  const { channels: C, vocabSize: V, paddedVocabSize: Vp } = cfg;
  const { params, acts } = t;
  const { grads, gradActs: d } = training;
  // logits (B,T,Vp) → d loss / d logits, in place; the vocabulary projection's backward then reads them as dout.
  exec.run(softmaxCrossEntropy.backward, { dlogits: acts.logits, lse: acts.lse, targets: t.targets }, {
    N,
    V,
    Vp,
    dloss: lossScale / N,
  });
  const wte = t.weights16?.byName.wte ?? params.wte;
  exec.run(matmul.backward, { dinp: d.dln, dweight: grads.wte, dout: acts.logits, inp: acts.lnf, weight: wte }, {
    N,
    C,
    OC: Vp,
  });
  exec.run(zero, { out: d.dresidual }, { n: N * C });
  exec.run(layernorm.backward, {
    dinp: d.dresidual,
    dweight: grads.lnfw,
    dbias: grads.lnfb,
    dout: d.dln,
    inp: x,
    weight: params.lnfw,
    mean: acts.lnfMean,
    rstd: acts.lnfRstd,
  }, { N, C });
}

/** The embedding's backward: the residual stream's gradient at the bottom into wte's and wpe's gradients. */
export function embeddingBackward<F, I>(
  exec: Executor<F, I>,
  t: ModelTensors<F, I>,
  training: TrainingTensors<F>,
  sizes: { B: number; T: number; C: number },
): void {
  const { grads, gradActs: d } = training;
  exec.run(encoder.backward, { dwte: grads.wte, dwpe: grads.wpe, dout: d.dresidual, inp: t.inputs }, sizes);
}
