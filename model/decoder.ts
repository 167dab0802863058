/**
 * Incremental decoding (generation) for GPT-2 on any backend, and the sampling loop.
 *
 * `GPT2Decoder` feeds one position at a time through `GPT2.forwardRows`, the same walk over the blocks as the
 * training forward pass, restricted to that row: N = 1 for layernorm, matmul, GELU and residual, and the attention
 * of the row's query reads the key and value rows 0..pos in place (`attention.decode`). The planned qkv activation
 * is the KV cache; nothing is allocated per step and the only readback is the Vp logits of the new position.
 *
 * @module
 */
import { UserError } from "../util/errors.ts";
import { sampleToken, type SamplingOptions, Xorshift64Star } from "../train/sampler.ts";
import type { GPT2 } from "./gpt2.ts";

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
  readonly #tokens: Int32Array;
  #pos = 0;

  /**
   * @param model A GPT-2 with batch size 1; its sequence length T is the decoder's capacity.
   */
  constructor(model: GPT2<F, I>) {
    if (model.B !== 1) throw new RangeError(`GPT2Decoder needs a model with batch size 1, got ${model.B}`);
    this.model = model;
    this.#tokens = new Int32Array(model.T);
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
    const { exec, config, T } = this.model;
    const { vocabSize: V, paddedVocabSize: Vp } = config;
    const pos = this.#pos;
    if (pos >= T) throw new UserError(`The decoder holds ${T} positions and all are used`);
    if (!(Number.isInteger(token) && token >= 0 && token < V)) {
      throw new UserError(`Token ${token} is outside the vocabulary [0, ${V})`);
    }
    this.#tokens[pos] = token;
    const logits = options.logits !== false;
    this.model.forwardRows(this.#tokens, { start: pos, count: 1 }, { logits });
    this.#pos = pos + 1;
    if (!logits) return undefined;
    return await exec.read(exec.view(this.model.tensors.acts.logits, pos * Vp, Vp));
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
  const exec = model.exec;
  for (let pos = prompt.length - 1; out.length < n; pos++) {
    model.forward(tokens);
    const logits = await exec.read(exec.view(model.tensors.acts.logits, pos * Vp, Vp));
    const token = sampleToken(logits, V, rng.nextFloat(), sampling);
    out.push(token);
    onToken(token);
    if (pos + 1 < tokens.length) tokens[pos + 1] = token;
  }
  return out;
}
