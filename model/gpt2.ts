/**
 * GPT-2 as a composition of modules (`tensors.ts` declares them): the embedding, L transformer blocks
 * (`block.ts`) and the head (final layernorm, the vocabulary projection tied to wte, the fused softmax +
 * cross-entropy, whose backward turns the logits into their gradient in place), run through one
 * `Executor`. One walk over the blocks serves the training forward pass and incremental decoding (a range of rows,
 * see `forwardRows`); the backward pass walks them in reverse. Every tensor comes from the planned arenas; views
 * are cut once in the constructor, so a step allocates nothing.
 *
 * @module
 */
import { f16Copy } from "../layers/f16_copy.ts";
import { adamw, type AdamWHyper } from "../layers/adamw.ts";
import { encoder } from "../layers/encoder.ts";
import { zero } from "../layers/fill.ts";
import { UserError } from "../util/errors.ts";
import { type BlockAct, type BlockParam, TransformerBlock } from "./block.ts";
import { embeddingBackward, headBackward, headForward, headLoss } from "./head.ts";
import { checkTokens, lastPosition, positionsOf, rowPieces, type RowRange } from "./rows.ts";
import type { GPT2Config } from "./config.ts";
import type { Executor } from "./executor.ts";
import type { ModelLayout, ModelTensors, TrainingTensors } from "./layout.ts";
import { cut, namesOf } from "./module.ts";
import { gpt2Tensors, PARAMETER_NAMES, type ParameterName } from "./tensors.ts";

/** AdamW settings for `GPT2.update`: the step's hyperparameters plus optional gradient clipping. */
export interface UpdateOptions extends Omit<AdamWHyper, "gradScale"> {
  /** Clip the global gradient norm to this value (scale every gradient by min(1, max/norm)); none if undefined. */
  maxGradNorm?: number;
  /** Multiplies every gradient before the update: 1/S after a backward pass of the loss times S (loss scaling). */
  gradScale?: number;
  /** Leave the parameters and AdamW state unchanged when the gradient norm is Inf or NaN (a loss-scale overflow). */
  skipNonFinite?: boolean;
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
  readonly exec: Executor<F, I>;
  /** The arena plans the tensors were cut from. */
  readonly layout: ModelLayout;
  /** Every tensor of the model. */
  readonly tensors: ModelTensors<F, I>;
  readonly #blocks: TransformerBlock<F, I>[];
  readonly #dispose?: () => void;
  #forwardHadTargets = false;
  /** Set by `backward`: the logits buffer holds their gradient until the next forward pass. */
  #logitsOverwritten = false;
  /** The row the logits buffer holds first after the last `forwardRows` (0 unless rows are in flight). */
  #logitsBase = 0;

  /**
   * Wraps a backend's tensors; the parameters are whatever the tensors hold (zeros when freshly allocated).
   *
   * @param exec The backend.
   * @param layout The plans the tensors were cut from.
   * @param tensors The backend's tensors (see `bindModelTensors`).
   * @param options `dispose` releases backend resources (worker threads) on `close`.
   */
  constructor(
    exec: Executor<F, I>,
    layout: ModelLayout,
    tensors: ModelTensors<F, I>,
    options: { dispose?: () => void } = {},
  ) {
    this.exec = exec;
    this.layout = layout;
    this.config = layout.config;
    this.B = layout.B;
    this.T = layout.T;
    this.tensors = tensors;
    this.#dispose = options.dispose;
    const { config: cfg, B, T } = this;
    const block = gpt2Tensors(cfg, B, T, layout.attention).block;
    const view = exec.view.bind(exec);
    const L = cfg.numLayers;
    const paramLengths = new Map(layout.params.slots.map((s) => [s.name, s.length]));
    const actLengths = new Map(layout.acts.slots.map((s) => [s.name, s.length]));
    const gradLengths = new Map(layout.gradActs.slots.map((s) => [s.name, s.length]));
    const params = namesOf(block.params) as BlockParam[], acts = namesOf(block.acts) as BlockAct[];
    const allActs = tensors.acts;
    const shared = cut(view, allActs, namesOf(block.shared), actLengths);
    const t = tensors.training;
    const d = t && cut(view, t.gradActs, namesOf(block.grads), gradLengths);
    this.#blocks = Array.from({ length: L }, (_, l) =>
      new TransformerBlock(exec, {
        p: cut(view, tensors.params, params, paramLengths, l, L),
        w16: tensors.weights16 && cut(view, tensors.weights16.byName, params, paramLengths, l, L),
        a: cut(view, allActs, acts, actLengths, l, L),
        shared,
        training: t && d && { g: cut(view, t.grads, params, paramLengths, l, L), d },
      }, { B, T, C: cfg.channels, NH: cfg.numHeads, attention: layout.attention }));
  }

  /** What the matmuls read the weights as: "f16" when the model keeps an f16 copy of them. */
  get precision(): "fp32" | "f16" {
    return this.tensors.weights16 ? "f16" : "fp32";
  }

  /** Number of parameters, with wte's padded rows (llm.c's count). */
  get parameterCount(): number {
    return PARAMETER_NAMES.reduce((n, name) => n + this.#length(name), 0);
  }

  /**
   * Forward pass on a batch: logits (B,T,Vp) and, when `targets` is given, the per-position losses (and each
   * row's log-sum-exp, which `backward` uses). Read the logits with `readLogits` before `backward`, which
   * overwrites them.
   *
   * @param inputs Token ids (B·T), each < vocabSize.
   * @param targets Next-token ids (B·T), each < vocabSize; needed for the loss and `backward`.
   */
  forward(inputs: Int32Array, targets?: Int32Array): void {
    const { exec, B, T } = this;
    if (this.layout.rowsInFlight !== undefined) {
      throw new RangeError(
        `this inference model holds ${this.layout.rowsInFlight} rows in flight, not a whole batch: use forwardRows`,
      );
    }
    const C = this.config.channels;
    const { params, acts } = this.tensors;
    checkTokens(inputs, "input", this.config.vocabSize, this.B * this.T);
    exec.writeInt(this.tensors.inputs, inputs);
    if (targets) {
      checkTokens(targets, "target", this.config.vocabSize, this.B * this.T);
      exec.writeInt(this.tensors.targets, targets);
    }
    exec.run(encoder.forward, { out: acts.encoded, inp: this.tensors.inputs, wte: params.wte, wpe: params.wpe }, {
      B,
      T,
      C,
    });
    this.#blocksForward();
    this.#headForward();
    this.#logitsOverwritten = false;
    this.#logitsBase = 0;
    this.#forwardHadTargets = targets !== undefined;
    if (targets) headLoss(exec, this.tensors, this.config, B * T);
  }

  /**
   * Forward pass of rows `start … start + count - 1` of the sequence in batch row 0 (incremental decoding; a model
   * with B > 1, such as a training model, decodes in its first row and leaves the others as they are): the same walk
   * as `forward`, over those rows only. The qkv rows of the earlier positions, left by earlier calls, act as the KV
   * cache. With `rows.samples` = S > 1 (at most B), the rows interleave S sequences position-major (row r is
   * position ⌊r / S⌋ of sample r mod S), so a step of S samples is S consecutive rows.
   *
   * @param tokens Up to S·T token ids, one per row: the rows so far, then anything (say zeros); rows before `start`
   *   must be unchanged since they ran. undefined: the rows' tokens are already in the input buffer (sampled on the
   *   device by `sample.token`).
   * @param rows The rows to compute.
   * @param options `logits: false` skips the final layernorm and the vocabulary projection; "last" computes the
   *   logits of the range's last position only (a prompt's prefill, which needs no other prediction): its last row,
   *   or its last S rows.
   */
  forwardRows(tokens: Int32Array | undefined, rows: RowRange, options: { logits?: boolean | "last" } = {}): void {
    const { exec } = this;
    const pieces = rowPieces(rows, this.B, this.T, this.layout.rowsInFlight, { tokens: tokens?.length, ...options });
    if (tokens) {
      const fed = tokens.subarray(rows.start, rows.start + rows.count);
      checkTokens(fed, "input", this.config.vocabSize, undefined, rows.start);
      exec.writeInt(exec.viewInt(this.tensors.inputs, rows.start, rows.count), fed);
    }
    // An inference model planned for fewer rows in flight runs a longer range in pieces of whole positions.
    for (const { last, ...piece } of pieces) this.#forwardPiece(piece, last ? options.logits : false);
    this.#logitsOverwritten = false;
    this.#forwardHadTargets = false;
  }

  /**
   * The logits rows `row … row + count - 1` computed by the last `forwardRows` (where the activations in flight
   * hold them), for reading or sampling.
   *
   * @param row First row (of the range given to `forwardRows`, whose logits were computed).
   * @param count Rows.
   * @returns A view of `count` rows of Vp logits.
   */
  logitsOf(row: number, count: number): F {
    const Vp = this.config.paddedVocabSize;
    return this.exec.view(this.tensors.acts.logits, (row - this.#logitsBase) * Vp, count * Vp);
  }

  /** One piece of `forwardRows` (all of it, unless the model holds fewer rows in flight). */
  #forwardPiece(rows: Required<RowRange>, logits: boolean | "last" | undefined): void {
    const { exec } = this;
    const C = this.config.channels;
    const { start, count, samples: S, base } = rows;
    const { params, acts, inputs } = this.tensors;
    // The S rows of one position share its position embedding: one encoder call per position covered.
    for (const { lo, hi, pos } of positionsOf(start, start + count, S)) {
      const n = hi - lo;
      exec.run(encoder.forward, {
        out: exec.view(acts.encoded, (lo - base) * C, n * C),
        inp: exec.viewInt(inputs, lo, n),
        wte: params.wte,
        wpe: exec.view(params.wpe, pos * C, (S === 1 ? n : 1) * C), // positions pos … (one sample), or pos
      }, S === 1 ? { B: 1, T: n, C } : { B: n, T: 1, C });
    }
    this.#blocksForward(rows);
    if (logits === false) return;
    this.#logitsBase = base;
    this.#headForward(logits === "last" ? lastPosition(rows) : rows);
  }

  /** The mean loss of the last forward pass (which must have had targets), averaged in float64. */
  async meanLoss(): Promise<number> {
    if (!this.#forwardHadTargets) throw new Error("meanLoss needs a forward pass with targets");
    const losses = await this.exec.read(this.tensors.acts.losses);
    let sum = 0;
    for (const x of losses) sum += x;
    return sum / losses.length;
  }

  /**
   * Copies the logits (B,T,Vp) of the last forward pass to the host. Call it between `forward` and `backward`:
   * backward overwrites the logits with their gradient (the fused classifier keeps no second (B,T,Vp) tensor).
   *
   * @throws Error after `backward`, until the next forward pass.
   */
  readLogits(): Promise<Float32Array> {
    if (this.#logitsOverwritten) {
      throw new Error("readLogits: backward has overwritten the logits with their gradient; read them before backward");
    }
    return this.exec.read(this.tensors.acts.logits);
  }

  /** Sets every parameter gradient to zero (gradients accumulate across backward passes until this is called). */
  zeroGrad(): void {
    this.exec.run(zero, { out: this.#training.gradsArena }, { n: this.layout.params.totalElements });
  }

  /** Whether the model has gradients and optimizer state (false: built for inference). */
  get trainable(): boolean {
    return this.tensors.training !== undefined;
  }

  /** The training tensors; a UserError in a model built for inference. */
  get #training(): TrainingTensors<F> {
    const t = this.tensors.training;
    if (!t) throw new UserError("This model was built for inference only: it has no gradients or optimizer state");
    return t;
  }

  /**
   * Backward pass of the mean loss of the last forward pass: parameter gradients are ADDED to the gradient arena.
   * One residual-stream gradient buffer carries d(loss)/d(residual) down through the blocks (see
   * `residualBackward` in `block.ts`). The fused classifier turns the logits into d(loss)/d(logits) in place, so
   * after this the logits are gone (`readLogits` throws) until the next `forward`, and a second backward of the
   * same forward pass is refused.
   *
   * @param lossScale Multiplies the loss being differentiated: 1/k when k micro-batches accumulate into one step.
   */
  backward(lossScale = 1): void {
    if (!this.#forwardHadTargets) throw new Error("backward needs a forward pass with targets");
    if (this.#logitsOverwritten) {
      throw new Error("backward has already run on this forward pass (it overwrote the logits); run forward again");
    }
    const { exec, B, T } = this;
    const training = this.#training;
    const blocks = this.#blocks;
    const top = blocks[blocks.length - 1].output;
    headBackward(exec, this.tensors, training, this.config, top, B * T, lossScale);
    this.#logitsOverwritten = true;
    for (let l = blocks.length - 1; l >= 0; l--) blocks[l].backward(this.#blockInput(l), l === blocks.length - 1);
    embeddingBackward(exec, this.tensors, training, { B, T, C: this.config.channels });
  }

  /** The global L2 norm of all parameter gradients. */
  async gradNorm(): Promise<number> {
    return await this.#readNorm(this.#queueNormSquared());
  }

  /** Records Σ grad² into the two floats of `gradNormSquared` (see `adamw.gradNormSquared`) and returns them. */
  #queueNormSquared(): F {
    const t = this.#training;
    const out = t.gradActs.gradNormSquared;
    this.exec.run(adamw.gradNormSquared, { out, grads: t.gradsArena }, { n: this.layout.params.totalElements });
    return out;
  }

  async #readNorm(out: F): Promise<number> {
    const [hi, lo] = await this.exec.read(out);
    return Math.sqrt(hi + lo);
  }

  /**
   * One AdamW step on every parameter (weight decay on all of them, as llm.c's CPU trainer and `test_gpt2` do).
   *
   * @param options Hyperparameters, 1-based step, optional clipping norm, gradient scale and skipping.
   * @returns The norm of the gradients times `gradScale`, before clipping, when `maxGradNorm` or `skipNonFinite` is
   *   set (Inf or NaN: the step was skipped, if asked), else undefined.
   */
  async update(options: UpdateOptions): Promise<number | undefined> {
    const { maxGradNorm, gradScale = 1, skipNonFinite = false, ...hyper } = options;
    const t = this.#training;
    const params = this.tensors.paramsArena;
    const n = this.layout.params.totalElements;
    const norm = maxGradNorm !== undefined || skipNonFinite ? this.#queueNormSquared() : undefined;
    // The clipping factor and the skip are decided where the update runs, so nothing waits for the GPU between. In an
    // f16 model the same update writes the f16 copy of the weights.
    const params16 = this.tensors.weights16?.arena;
    this.exec.run(adamw.update, { params, grads: t.gradsArena, m: t.mArena, v: t.vArena, norm, params16 }, {
      n,
      ...hyper,
      gradScale,
      maxNorm: maxGradNorm ?? 0,
      skipNonFinite,
    });
    // Read after the update: this one wait covers the whole step.
    return norm ? await this.#readNorm(norm) * gradScale : undefined;
  }

  /** Copies every parameter tensor to the host, in llm.c's order. */
  async readParameters(): Promise<Record<ParameterName, Float32Array>> {
    return await this.#readAll(this.tensors.params);
  }

  /** Copies every parameter gradient to the host, in llm.c's order. */
  async readGradients(): Promise<Record<ParameterName, Float32Array>> {
    return await this.#readAll(this.#training.grads);
  }

  /**
   * Writes parameter tensors from host data (e.g. a checkpoint or `randomParameters`).
   *
   * @param name Which tensor.
   * @param data Its values, exactly as many as the tensor holds.
   */
  writeParameter(name: ParameterName, data: Float32Array): void {
    const length = this.#length(name);
    if (data.length !== length) {
      throw new RangeError(`parameter ${name} holds ${length} values, got ${data.length}`);
    }
    this.exec.write(this.tensors.params[name], data);
    this.#refreshWeights16(this.tensors.params[name], this.tensors.weights16?.byName[name], length);
  }

  /** In an f16 model, rewrites the f16 copy of `n` parameters from the float32 masters (after a write). */
  #refreshWeights16(master: F, copy: F | undefined, n: number): void {
    if (copy) this.exec.run(f16Copy.forward, { out: copy, inp: master }, { N: n });
  }

  /** Releases backend resources (worker threads). The model must not be used afterwards. */
  close(): void {
    this.#dispose?.();
  }

  /** The blocks in order, each from its input (the embedding's output, then the previous block's). */
  #blocksForward(rows?: RowRange): void {
    const C = this.config.channels;
    const last = this.#blocks.length - 1; // its scores are still there for backward (block.backward's scoresHold)
    this.#blocks.forEach((block, l) => {
      const x = this.#blockInput(l);
      block.forward(
        rows ? this.exec.view(x, (rows.start - (rows.base ?? 0)) * C, rows.count * C) : x,
        rows,
        l === last,
      );
    });
  }

  /** The residual stream entering block l. */
  #blockInput(l: number): F {
    return l === 0 ? this.tensors.acts.encoded : this.#blocks[l - 1].output;
  }

  /** Final layernorm and the vocabulary projection (wte, tied) of the last block's output. */
  #headForward(rows?: RowRange): void {
    headForward(
      this.exec,
      this.tensors,
      this.config,
      this.#blocks[this.#blocks.length - 1].output,
      this.B * this.T,
      rows,
    );
  }

  #length(name: ParameterName): number {
    return this.layout.params.byName.get(name)!.length;
  }

  async #readAll(tensors: Record<ParameterName, F>): Promise<Record<ParameterName, Float32Array>> {
    const out = {} as Record<ParameterName, Float32Array>;
    for (const name of PARAMETER_NAMES) out[name] = await this.exec.read(tensors[name]);
    return out;
  }
}
