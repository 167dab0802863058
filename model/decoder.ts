/**
 * Incremental decoding (generation) for GPT-2, written once against the `Ops` interface, and the sampling loop.
 *
 * `GPT2Decoder` runs one position at a time on a `GPT2` built at B = 1, T = the longest sequence it will see. Its
 * planned activation arena already holds, per layer, one (T, 3C) row of q, k, v per position: a decode step
 * computes only row `pos` of every activation (N = 1 for layernorm, matmul, GELU and residual), and the attention
 * of that row's query reads the key and value rows 0..pos in place (`Ops.attentionDecode`). The qkv activation is
 * the KV cache; nothing is allocated per step and the only readback is the Vp logits of the new position.
 *
 * @module
 */
import { UserError } from "../util/errors.ts";
import { sampleToken, type SamplingOptions, Xorshift64Star } from "../train/sampler.ts";
import type { GPT2 } from "./gpt2.ts";
import { planModel } from "./layout.ts";

// deno-fmt-ignore
const BLOCK_PARAMS = [
  "ln1w", "ln1b", "qkvw", "qkvb", "attprojw", "attprojb", "ln2w", "ln2b", "fcw", "fcb", "fcprojw", "fcprojb",
] as const;
type BlockParam = typeof BLOCK_PARAMS[number];

// deno-fmt-ignore
const BLOCK_ACTS = [
  "ln1", "ln1Mean", "ln1Rstd", "qkv", "atty", "attproj", "residual2",
  "ln2", "ln2Mean", "ln2Rstd", "fch", "fchGelu", "fcproj", "residual3",
] as const;
type BlockAct = typeof BLOCK_ACTS[number];

/**
 * Decodes one token at a time with a KV cache, on any backend.
 *
 * @example
 * ```ts
 * import { GPT2Decoder } from "./decoder.ts";
 * import { createCpuModel } from "./cpu_model.ts";
 * import { parseModelDescriptor } from "./config.ts";
 * const model = await createCpuModel(parseModelDescriptor("layers=1,heads=2,channels=8,seq=4,vocab=10")!, 1, 4);
 * const decoder = new GPT2Decoder(model);
 * const logits = await decoder.step(3); // logits (Vp) of position 0
 * if (decoder.position !== 1 || logits[0] !== 0) throw new Error("zero weights give zero logits");
 * ```
 */
export class GPT2Decoder<F, I> {
  /** The model whose parameters and activation arena the decoder uses (B = 1). */
  readonly model: GPT2<F, I>;
  /** Per layer: parameter views, and the whole (T, ·) activation of that layer. */
  readonly #blocks: { p: Record<BlockParam, F>; a: Record<BlockAct, F> }[];
  readonly #tokens: Int32Array;
  #pos = 0;

  /**
   * @param model A GPT-2 with batch size 1; its sequence length T is the decoder's capacity.
   */
  constructor(model: GPT2<F, I>) {
    if (model.B !== 1) throw new RangeError(`GPT2Decoder needs a model with batch size 1, got ${model.B}`);
    this.model = model;
    const { ops, config, T } = model;
    const L = config.numLayers;
    const layout = planModel(config, 1, T, 1); // only the lengths are used
    const { params, acts } = model.tensors;
    const perLayer = (plan: typeof layout.params, name: string) => plan.byName.get(name)!.length / L;
    this.#blocks = [];
    for (let l = 0; l < L; l++) {
      const p = {} as Record<BlockParam, F>;
      for (const name of BLOCK_PARAMS) {
        const n = perLayer(layout.params, name);
        p[name] = ops.view(params[name], l * n, n);
      }
      const a = {} as Record<BlockAct, F>;
      for (const name of BLOCK_ACTS) {
        const n = perLayer(layout.acts, name);
        a[name] = ops.view(acts[name], l * n, n);
      }
      this.#blocks.push({ p, a });
    }
    this.#tokens = new Int32Array(T);
  }

  /** The position the next `step` fills (the number of tokens seen so far). */
  get position(): number {
    return this.#pos;
  }

  /** How many positions fit (the model's T). */
  get capacity(): number {
    return this.model.T;
  }

  /** Forgets every position (the cache rows are overwritten by the next steps). */
  reset(): void {
    this.#pos = 0;
    this.#tokens.fill(0);
  }

  /**
   * Feeds `token` at the next position and returns the logits (Vp) predicting the token after it.
   *
   * @param token A token id < vocabSize.
   * @param options `logits: false` skips the final layernorm, vocabulary projection and readback (prompt tokens
   *   whose prediction is not needed); the promise then resolves to undefined.
   * @returns The logits row of this position (padded columns included), copied to the host.
   */
  step(token: number, options: { logits: false }): Promise<undefined>;
  step(token: number, options?: { logits?: true }): Promise<Float32Array>;
  async step(token: number, options: { logits?: boolean } = {}): Promise<Float32Array | undefined> {
    const { ops, config, T } = this.model;
    const { channels: C, numHeads: NH, vocabSize: V, paddedVocabSize: Vp } = config;
    const pos = this.#pos;
    if (pos >= T) throw new UserError(`The decoder holds ${T} positions and all are used`);
    if (!(Number.isInteger(token) && token >= 0 && token < V)) {
      throw new UserError(`Token ${token} is outside the vocabulary [0, ${V})`);
    }
    const { params, acts, inputs } = this.model.tensors;
    this.#tokens[pos] = token;
    ops.writeInt(inputs, this.#tokens);
    // The encoder rewrites rows 0..pos (the earlier ones with the values they hold): O(pos·C), negligible.
    ops.encoderForward({ out: acts.encoded, inp: inputs, wte: params.wte, wpe: params.wpe }, { B: 1, T: pos + 1, C });
    const row = (t: F, width: number) => ops.view(t, pos * width, width);
    let residual = row(acts.encoded, C);
    for (const { p, a } of this.#blocks) {
      const ln1 = row(a.ln1, C);
      const qkv = row(a.qkv, 3 * C);
      const atty = row(a.atty, C);
      const attproj = row(a.attproj, C);
      const residual2 = row(a.residual2, C);
      const ln2 = row(a.ln2, C);
      const fch = row(a.fch, 4 * C);
      const fchGelu = row(a.fchGelu, 4 * C);
      const fcproj = row(a.fcproj, C);
      const residual3 = row(a.residual3, C);
      ops.layernormForward(
        { out: ln1, mean: row(a.ln1Mean, 1), rstd: row(a.ln1Rstd, 1), inp: residual, weight: p.ln1w, bias: p.ln1b },
        { N: 1, C },
      );
      ops.matmulForward({ out: qkv, inp: ln1, weight: p.qkvw, bias: p.qkvb }, { N: 1, C, OC: 3 * C });
      ops.attentionDecode({ out: atty, inp: ops.view(a.qkv, 0, (pos + 1) * 3 * C) }, { pos, C, NH });
      ops.matmulForward({ out: attproj, inp: atty, weight: p.attprojw, bias: p.attprojb }, { N: 1, C, OC: C });
      ops.residualForward({ out: residual2, inp1: residual, inp2: attproj }, { N: C });
      ops.layernormForward(
        { out: ln2, mean: row(a.ln2Mean, 1), rstd: row(a.ln2Rstd, 1), inp: residual2, weight: p.ln2w, bias: p.ln2b },
        { N: 1, C },
      );
      ops.matmulForward({ out: fch, inp: ln2, weight: p.fcw, bias: p.fcb }, { N: 1, C, OC: 4 * C });
      ops.geluForward({ out: fchGelu, inp: fch }, { N: 4 * C });
      ops.matmulForward({ out: fcproj, inp: fchGelu, weight: p.fcprojw, bias: p.fcprojb }, { N: 1, C: 4 * C, OC: C });
      ops.residualForward({ out: residual3, inp1: residual2, inp2: fcproj }, { N: C });
      residual = residual3;
    }
    this.#pos = pos + 1;
    if (options.logits === false) return undefined;
    const lnf = row(acts.lnf, C);
    ops.layernormForward(
      {
        out: lnf,
        mean: row(acts.lnfMean, 1),
        rstd: row(acts.lnfRstd, 1),
        inp: residual,
        weight: params.lnfw,
        bias: params.lnfb,
      },
      { N: 1, C },
    );
    const logits = row(acts.logits, Vp);
    ops.matmulForward({ out: logits, inp: lnf, weight: params.wte }, { N: 1, C, OC: Vp });
    return await ops.read(logits);
  }
}

/** Options of `generateTokens`. */
export interface GenerateOptions extends SamplingOptions {
  /** Number of tokens to sample. */
  maxNewTokens: number;
  /** Seed of the xorshift64* sampler (llm.c's generator). */
  seed: number;
  /** false: no KV cache, a full forward pass over the whole prefix for every token (the reference). Default true. */
  cache?: boolean;
}

/**
 * Samples `maxNewTokens` tokens after `prompt`. With the cache (default) the prompt and every sampled token go
 * through `GPT2Decoder` one position at a time; without it, every token is predicted by a full forward pass over
 * the padded sequence (causal, so the padding does not change the row that is read). The model must have B = 1 and
 * T ≥ prompt.length + maxNewTokens - 1.
 *
 * @param model A GPT-2 at batch size 1.
 * @param prompt At least one token id.
 * @param options Count, seed, sampling settings, cache on or off.
 * @param onToken Called with each sampled token as soon as it is known (for streaming).
 * @returns The sampled tokens (without the prompt).
 * @example
 * ```ts
 * import { generateTokens } from "./decoder.ts";
 * import { createCpuModel } from "./cpu_model.ts";
 * import { parseModelDescriptor } from "./config.ts";
 * const model = await createCpuModel(parseModelDescriptor("layers=1,heads=2,channels=8,seq=8,vocab=10")!, 1, 8);
 * const tokens = await generateTokens(model, [1, 2], { maxNewTokens: 3, seed: 7, temperature: 0 });
 * if (tokens.join() !== "0,0,0") throw new Error("zero weights: greedy picks token 0");
 * ```
 */
export async function generateTokens<F, I>(
  model: GPT2<F, I>,
  prompt: readonly number[],
  options: GenerateOptions,
  onToken: (token: number) => void = () => {},
): Promise<number[]> {
  const { maxNewTokens: n, cache = true } = options;
  const { vocabSize: V, paddedVocabSize: Vp } = model.config;
  if (prompt.length < 1) throw new RangeError("generateTokens needs at least one prompt token");
  const needed = prompt.length + n - 1;
  if (model.B !== 1 || model.T < needed) {
    throw new RangeError(`generateTokens needs a model at B = 1, T >= ${needed}; got B = ${model.B}, T = ${model.T}`);
  }
  const rng = new Xorshift64Star(options.seed);
  const sampling: SamplingOptions = { temperature: options.temperature, topK: options.topK, topP: options.topP };
  const out: number[] = [];
  if (n === 0) return out;
  if (cache) {
    const decoder = new GPT2Decoder(model);
    for (let i = 0; i < prompt.length - 1; i++) await decoder.step(prompt[i], { logits: false });
    let logits = await decoder.step(prompt[prompt.length - 1]);
    for (;;) {
      const token = sampleToken(logits, V, rng.nextFloat(), sampling);
      out.push(token);
      onToken(token);
      if (out.length === n) return out;
      logits = await decoder.step(token);
    }
  }
  const tokens = new Int32Array(model.T);
  tokens.set(prompt);
  const ops = model.ops;
  for (let pos = prompt.length - 1; out.length < n; pos++) {
    model.forward(tokens);
    const logits = await ops.read(ops.view(model.tensors.acts.logits, pos * Vp, Vp));
    const token = sampleToken(logits, V, rng.nextFloat(), sampling);
    out.push(token);
    onToken(token);
    if (pos + 1 < tokens.length) tokens[pos + 1] = token;
  }
  return out;
}
