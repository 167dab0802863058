/**
 * GPT-2, written once against the `Ops` interface: forward pass with the mean cross-entropy loss, backward pass,
 * AdamW update with optional global-norm clipping. Every tensor comes from the planned arenas (see `layout.ts`);
 * per-layer views are cut once in the constructor, so a training step allocates nothing.
 *
 * @module
 */
import { UserError } from "../util/errors.ts";
import type { GPT2Config } from "./config.ts";
import type { ModelLayout, ModelTensors } from "./layout.ts";
import type { AdamWHyper, Ops } from "./ops.ts";
import { PARAMETER_NAMES, type ParameterName } from "./tensors.ts";

/** The per-layer parameters, in llm.c's order. */
// deno-fmt-ignore
const BLOCK_PARAMS = [
  "ln1w", "ln1b", "qkvw", "qkvb", "attprojw", "attprojb", "ln2w", "ln2b", "fcw", "fcb", "fcprojw", "fcprojb",
] as const;
type BlockParam = typeof BLOCK_PARAMS[number];

/** The per-layer activations (each (L, ...) in the activation plan). */
// deno-fmt-ignore
const BLOCK_ACTS = [
  "ln1", "ln1Mean", "ln1Rstd", "qkv", "atty", "attproj", "residual2",
  "ln2", "ln2Mean", "ln2Rstd", "fch", "fchGelu", "fcproj", "residual3",
] as const;
type BlockAct = typeof BLOCK_ACTS[number];

/** Views of one transformer block: its parameters, their gradients, its activations and its residual input. */
interface Block<F> {
  p: Record<BlockParam, F>;
  g: Record<BlockParam, F>;
  a: Record<BlockAct, F>;
  /** The residual stream entering the block: `encoded` for block 0, else the previous block's `residual3`. */
  residualIn: F;
}

/** AdamW settings for `GPT2.update`: the step's hyperparameters plus optional gradient clipping. */
export interface UpdateOptions extends Omit<AdamWHyper, "gradScale"> {
  /** Clip the global gradient norm to this value (scale every gradient by min(1, max/norm)); none if undefined. */
  maxGradNorm?: number;
}

/**
 * A GPT-2 model at a fixed batch size B and sequence length T on one backend. Build it with a backend factory such
 * as `createCpuModel`; fill its parameters from a checkpoint or `randomParameters`.
 */
export class GPT2<F, I> {
  /** Model shape. */
  readonly config: GPT2Config;
  /** Batch size. */
  readonly B: number;
  /** Sequence length. */
  readonly T: number;
  /** The backend. */
  readonly ops: Ops<F, I>;
  /** Every tensor of the model. */
  readonly tensors: ModelTensors<F, I>;
  readonly #blocks: Block<F>[];
  readonly #arenaElements: number;
  readonly #paramLengths: Map<string, number>;
  readonly #dispose?: () => void;
  #forwardHadTargets = false;

  /**
   * Wraps a backend's tensors; the parameters are whatever the tensors hold (zeros when freshly allocated).
   *
   * @param ops The backend.
   * @param layout The plans the tensors were cut from.
   * @param tensors The backend's tensors (see `bindModelTensors`).
   * @param options `dispose` releases backend resources (worker threads) on `close`.
   */
  constructor(
    ops: Ops<F, I>,
    layout: ModelLayout,
    tensors: ModelTensors<F, I>,
    options: { dispose?: () => void } = {},
  ) {
    this.ops = ops;
    this.config = layout.config;
    this.B = layout.B;
    this.T = layout.T;
    this.tensors = tensors;
    this.#arenaElements = layout.params.totalElements;
    this.#paramLengths = new Map(layout.params.slots.map((slot) => [slot.name, slot.length]));
    this.#dispose = options.dispose;
    const L = this.config.numLayers;
    const slice = (t: F, l: number, perLayer: number) => ops.view(t, l * perLayer, perLayer);
    const perLayerParam = (name: BlockParam) => layout.params.byName.get(name)!.length / L;
    const perLayerAct = (name: BlockAct) => layout.acts.byName.get(name)!.length / L;
    this.#blocks = [];
    for (let l = 0; l < L; l++) {
      const p = {} as Record<BlockParam, F>;
      const g = {} as Record<BlockParam, F>;
      for (const name of BLOCK_PARAMS) {
        p[name] = slice(tensors.params[name], l, perLayerParam(name));
        g[name] = slice(tensors.grads[name], l, perLayerParam(name));
      }
      const a = {} as Record<BlockAct, F>;
      for (const name of BLOCK_ACTS) a[name] = slice(tensors.acts[name], l, perLayerAct(name));
      const residualIn = l === 0 ? tensors.acts.encoded : this.#blocks[l - 1].a.residual3;
      this.#blocks.push({ p, g, a, residualIn });
    }
  }

  /** Number of parameters, with wte's padded rows (llm.c's count). */
  get parameterCount(): number {
    let n = 0;
    for (const name of PARAMETER_NAMES) n += this.#paramLengths.get(name)!;
    return n;
  }

  /**
   * Forward pass on a batch: logits (B,T,Vp) and, when `targets` is given, the per-position losses.
   *
   * @param inputs Token ids (B·T), each < vocabSize.
   * @param targets Next-token ids (B·T), each < vocabSize; needed for the loss and `backward`.
   */
  forward(inputs: Int32Array, targets?: Int32Array): void {
    const { ops, B, T } = this;
    const { channels: C, numHeads: NH, vocabSize: V, paddedVocabSize: Vp } = this.config;
    const { params, acts } = this.tensors;
    const N = B * T;
    this.#checkTokens(inputs, "input");
    ops.writeInt(this.tensors.inputs, inputs);
    if (targets) {
      this.#checkTokens(targets, "target");
      ops.writeInt(this.tensors.targets, targets);
    }
    ops.encoderForward({ out: acts.encoded, inp: this.tensors.inputs, wte: params.wte, wpe: params.wpe }, { B, T, C });
    for (const { p, a, residualIn } of this.#blocks) {
      ops.layernormForward(
        { out: a.ln1, mean: a.ln1Mean, rstd: a.ln1Rstd, inp: residualIn, weight: p.ln1w, bias: p.ln1b },
        { N, C },
      );
      ops.matmulForward({ out: a.qkv, inp: a.ln1, weight: p.qkvw, bias: p.qkvb }, { N, C, OC: 3 * C });
      ops.attentionForward({ out: a.atty, preatt: acts.preatt, att: acts.att, inp: a.qkv }, { B, T, C, NH });
      ops.matmulForward({ out: a.attproj, inp: a.atty, weight: p.attprojw, bias: p.attprojb }, { N, C, OC: C });
      ops.residualForward({ out: a.residual2, inp1: residualIn, inp2: a.attproj }, { N: N * C });
      ops.layernormForward(
        { out: a.ln2, mean: a.ln2Mean, rstd: a.ln2Rstd, inp: a.residual2, weight: p.ln2w, bias: p.ln2b },
        { N, C },
      );
      ops.matmulForward({ out: a.fch, inp: a.ln2, weight: p.fcw, bias: p.fcb }, { N, C, OC: 4 * C });
      ops.geluForward({ out: a.fchGelu, inp: a.fch }, { N: N * 4 * C });
      ops.matmulForward({ out: a.fcproj, inp: a.fchGelu, weight: p.fcprojw, bias: p.fcprojb }, { N, C: 4 * C, OC: C });
      ops.residualForward({ out: a.residual3, inp1: a.residual2, inp2: a.fcproj }, { N: N * C });
    }
    const last = this.#blocks[this.#blocks.length - 1].a.residual3;
    ops.layernormForward(
      { out: acts.lnf, mean: acts.lnfMean, rstd: acts.lnfRstd, inp: last, weight: params.lnfw, bias: params.lnfb },
      { N, C },
    );
    ops.matmulForward({ out: acts.logits, inp: acts.lnf, weight: params.wte }, { N, C, OC: Vp });
    this.#forwardHadTargets = targets !== undefined;
    if (targets) {
      ops.softmaxCrossEntropyForward(
        { losses: acts.losses, probs: acts.probs, logits: acts.logits, targets: this.tensors.targets },
        { N, V, Vp },
      );
    }
  }

  /** The mean loss of the last forward pass (which must have had targets), averaged in float64. */
  async meanLoss(): Promise<number> {
    if (!this.#forwardHadTargets) throw new Error("meanLoss needs a forward pass with targets");
    const losses = await this.ops.read(this.tensors.acts.losses);
    let sum = 0;
    for (const x of losses) sum += x;
    return sum / losses.length;
  }

  /** Copies the logits (B,T,Vp) of the last forward pass to the host. */
  readLogits(): Promise<Float32Array> {
    return this.ops.read(this.tensors.acts.logits);
  }

  /** Sets every parameter gradient to zero (gradients accumulate across backward passes until this is called). */
  zeroGrad(): void {
    this.ops.zero(this.tensors.gradsArena);
  }

  /**
   * Backward pass of the mean loss of the last forward pass: parameter gradients are ADDED to the gradient arena.
   * One residual-stream gradient buffer carries d(loss)/d(residual) down through the blocks; each layernorm adds its
   * input gradient to it, and each block's output projection reads it.
   *
   * @param lossScale Multiplies the loss being differentiated: 1/k when k micro-batches accumulate into one step.
   */
  backward(lossScale = 1): void {
    if (!this.#forwardHadTargets) throw new Error("backward needs a forward pass with targets");
    const { ops, B, T } = this;
    const { channels: C, numHeads: NH, vocabSize: V, paddedVocabSize: Vp } = this.config;
    const { params, grads, acts, gradActs: d } = this.tensors;
    const N = B * T;
    ops.softmaxCrossEntropyBackward(
      { dlogits: d.dlogits, probs: acts.probs, targets: this.tensors.targets },
      { N, V, Vp, dloss: lossScale / N },
    );
    ops.matmulBackward(
      { dinp: d.dln, dweight: grads.wte, dout: d.dlogits, inp: acts.lnf, weight: params.wte },
      { N, C, OC: Vp },
    );
    ops.zero(d.dresidual);
    const last = this.#blocks[this.#blocks.length - 1].a.residual3;
    // deno-fmt-ignore
    ops.layernormBackward(
      {
        dinp: d.dresidual, dweight: grads.lnfw, dbias: grads.lnfb, dout: d.dln,
        inp: last, weight: params.lnfw, mean: acts.lnfMean, rstd: acts.lnfRstd,
      },
      { N, C },
    );
    for (let l = this.#blocks.length - 1; l >= 0; l--) {
      const { p, g, a, residualIn } = this.#blocks[l];
      // d.dresidual holds d(loss)/d(residual3): back through the MLP, then ln2 adds its share.
      ops.matmulBackward(
        {
          dinp: d.dfchGelu,
          dweight: g.fcprojw,
          dbias: g.fcprojb,
          dout: d.dresidual,
          inp: a.fchGelu,
          weight: p.fcprojw,
        },
        { N, C: 4 * C, OC: C },
      );
      ops.geluBackward({ dinp: d.dfch, inp: a.fch, dout: d.dfchGelu }, { N: N * 4 * C });
      ops.matmulBackward(
        { dinp: d.dln, dweight: g.fcw, dbias: g.fcb, dout: d.dfch, inp: a.ln2, weight: p.fcw },
        { N, C, OC: 4 * C },
      );
      // deno-fmt-ignore
      ops.layernormBackward(
        {
          dinp: d.dresidual, dweight: g.ln2w, dbias: g.ln2b, dout: d.dln,
          inp: a.residual2, weight: p.ln2w, mean: a.ln2Mean, rstd: a.ln2Rstd,
        },
        { N, C },
      );
      // d.dresidual now holds d(loss)/d(residual2): back through attention, then ln1 adds its share.
      ops.matmulBackward(
        { dinp: d.datty, dweight: g.attprojw, dbias: g.attprojb, dout: d.dresidual, inp: a.atty, weight: p.attprojw },
        { N, C, OC: C },
      );
      if (l !== this.#blocks.length - 1) {
        // The shared attention scores hold the last layer's; recompute this layer's (same kernel, same inputs:
        // bit-identical to the forward pass, and atty is rewritten with the values it already holds).
        ops.attentionForward({ out: a.atty, preatt: acts.preatt, att: acts.att, inp: a.qkv }, { B, T, C, NH });
      }
      ops.attentionBackward(
        { dinp: d.dqkv, dpreatt: d.dpreatt, datt: d.datt, dout: d.datty, inp: a.qkv, att: acts.att },
        { B, T, C, NH },
      );
      ops.matmulBackward(
        { dinp: d.dln, dweight: g.qkvw, dbias: g.qkvb, dout: d.dqkv, inp: a.ln1, weight: p.qkvw },
        { N, C, OC: 3 * C },
      );
      // deno-fmt-ignore
      ops.layernormBackward(
        {
          dinp: d.dresidual, dweight: g.ln1w, dbias: g.ln1b, dout: d.dln,
          inp: residualIn, weight: p.ln1w, mean: a.ln1Mean, rstd: a.ln1Rstd,
        },
        { N, C },
      );
    }
    ops.encoderBackward(
      { dwte: grads.wte, dwpe: grads.wpe, dout: d.dresidual, inp: this.tensors.inputs },
      { B, T, C },
    );
  }

  /** The global L2 norm of all parameter gradients. */
  async gradNorm(): Promise<number> {
    this.ops.gradNormSquared({ grads: this.tensors.gradsArena }, { n: this.#arenaElements });
    return Math.sqrt(await this.ops.readGradNormSquared());
  }

  /**
   * One AdamW step on every parameter (weight decay on all of them, as llm.c's CPU trainer and `test_gpt2` do).
   *
   * @param options Hyperparameters, 1-based step, optional clipping norm.
   * @returns The gradient norm before clipping when `maxGradNorm` is set, else undefined.
   */
  async update(options: UpdateOptions): Promise<number | undefined> {
    const { maxGradNorm, ...hyper } = options;
    let gradScale = 1;
    let norm: number | undefined;
    if (maxGradNorm !== undefined) {
      norm = await this.gradNorm();
      if (norm > maxGradNorm) gradScale = maxGradNorm / norm;
    }
    const t = this.tensors;
    this.ops.adamwUpdate(
      { params: t.paramsArena, grads: t.gradsArena, m: t.mArena, v: t.vArena },
      { n: this.#arenaElements },
      { ...hyper, gradScale },
    );
    return norm;
  }

  /** Copies every parameter tensor to the host, in llm.c's order. */
  async readParameters(): Promise<Record<ParameterName, Float32Array>> {
    return await this.#readAll(this.tensors.params);
  }

  /** Copies every parameter gradient to the host, in llm.c's order. */
  async readGradients(): Promise<Record<ParameterName, Float32Array>> {
    return await this.#readAll(this.tensors.grads);
  }

  /**
   * Writes parameter tensors from host data (e.g. a checkpoint or `randomParameters`).
   *
   * @param name Which tensor.
   * @param data Its values, exactly as many as the tensor holds.
   */
  writeParameter(name: ParameterName, data: Float32Array): void {
    const length = this.#paramLengths.get(name)!;
    if (data.length !== length) {
      throw new RangeError(`parameter ${name} holds ${length} values, got ${data.length}`);
    }
    this.ops.write(this.tensors.params[name], data);
  }

  /** Releases backend resources (worker threads). The model must not be used afterwards. */
  close(): void {
    this.#dispose?.();
  }

  async #readAll(tensors: Record<ParameterName, F>): Promise<Record<ParameterName, Float32Array>> {
    const out = {} as Record<ParameterName, Float32Array>;
    for (const name of PARAMETER_NAMES) out[name] = await this.ops.read(tensors[name]);
    return out;
  }

  #checkTokens(tokens: Int32Array, what: string): void {
    const V = this.config.vocabSize;
    if (tokens.length !== this.B * this.T) {
      throw new RangeError(`${what} tokens: expected B·T = ${this.B * this.T}, got ${tokens.length}`);
    }
    for (let i = 0; i < tokens.length; i++) {
      if (!(tokens[i] >= 0 && tokens[i] < V)) {
        throw new UserError(`${what} token ${tokens[i]} at position ${i} is outside the vocabulary [0, ${V})`);
      }
    }
  }
}
