/**
 * Incremental decoding (generation) for GPT-2 on any backend, and the sampling loop.
 *
 * `GPT2Decoder` feeds positions through `GPT2.forwardRows`, the same walk over the blocks as the training forward
 * pass, restricted to those rows: a prompt in one pass (`prefill`: the training attention over its rows), then one
 * position at a time (`step`: N = 1 for layernorm, matmul, GELU and residual, and the attention of the row's query
 * reads the key and value rows 0..pos in place, `attention.decode`). The planned qkv activation is the KV cache;
 * nothing is allocated per step. The token is drawn where the model runs (`sampleOnDevice`, `layers/sample.ts`:
 * greedy, temperature, top-k, top-p) and written into the next position's input, and the ids come back in chunks: no
 * read per token. (`prefill: false` keeps the host-side loop that reads each logits row, as a reference.)
 * A model with B > 1 (a training model, for its periodic samples) decodes in its first batch row.
 *
 * @module
 */
import { UserError } from "../util/errors.ts";
import { StreamingDecoder } from "../prepro/tokenizer.ts";
import { sampleToken, type SamplingOptions, Xorshift64Star } from "../train/sampler.ts";
import { sample } from "../layers/sample.ts";
import { GPT2_EOT } from "./config.ts";
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
   * @param model A GPT-2; its sequence length T is the decoder's capacity (batch row 0 is used).
   */
  constructor(model: GPT2<F, I>) {
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
    if (options.logits === false) {
      this.#feed([token], false);
      return undefined;
    }
    return await this.prefill([token]);
  }

  /**
   * Feeds `tokens` at the next positions in one forward pass over their rows (a prompt) and returns the logits (Vp)
   * predicting the token after the last of them. Equal, up to float rounding, to feeding them one `step` at a time.
   *
   * @param tokens At least one token id < vocabSize.
   * @returns The logits row of the last position (padded columns included), copied to the host.
   */
  async prefill(tokens: readonly number[]): Promise<Float32Array> {
    const { exec, config } = this.model;
    const Vp = config.paddedVocabSize;
    this.#feed(tokens, "last");
    const last = this.#pos - 1;
    return await exec.read(exec.view(this.model.tensors.acts.logits, last * Vp, Vp));
  }

  /**
   * Samples `n` tokens after `prompt` where the model runs: the prompt in one pass, then each token drawn by
   * `sample.token` into the next position's input, so nothing waits for the GPU per token. The ids come back in
   * chunks of 1, 2, 4, … 32 (the first at once; then one read in flight while the next chunk is recorded) and reach
   * `onToken` in order.
   *
   * @param prompt At least one token id.
   * @param n Tokens to sample (prompt.length + n - 1 ≤ capacity).
   * @param coins n uniforms in [0, 1), one per token, from the caller's generator.
   * @param sampling Temperature (0: the argmax), top-k, top-p.
   * @param onToken Receives each id in order; returning false stops (work already queued is discarded).
   * @returns The ids delivered.
   */
  async sampleOnDevice(
    prompt: readonly number[],
    n: number,
    coins: Float32Array,
    sampling: SamplingOptions,
    onToken: (token: number) => unknown = () => {},
  ): Promise<number[]> {
    const { exec, config } = this.model;
    const { vocabSize: V, paddedVocabSize: Vp } = config;
    const { acts, inputs } = this.model.tensors;
    if (coins.length !== n) throw new RangeError(`sampleOnDevice: ${coins.length} coins for ${n} tokens`);
    exec.write(exec.view(acts.coins, 0, n), coins);
    this.#feed(prompt, "last");
    const first = this.#pos; // where the first sampled token goes
    const out: number[] = [];
    const reads: Promise<Float32Array>[] = [];
    let stopped = false;
    const deliver = async () => {
      const ids = await reads.shift()!;
      for (const id of ids) {
        if (stopped) return;
        out.push(id);
        if (first + out.length - 1 < this.capacity) this.#tokens[first + out.length - 1] = id;
        if (onToken(id) === false) stopped = true;
      }
    };
    let chunkStart = 0, chunk = 1;
    for (let step = 0; step < n && !stopped; step++) {
      const pos = this.#pos - 1; // the row whose logits predict this token
      const writeToken = step + 1 < n;
      const logits = exec.view(acts.logits, pos * Vp, Vp);
      exec.run(sample.token, { tokens: inputs, sampled: acts.sampled, logits, coins: acts.coins }, {
        V,
        step,
        tokenAt: pos + 1,
        writeToken,
        temperature: sampling.temperature ?? 1,
        topK: sampling.topK,
        topP: sampling.topP,
      });
      const boundary = step + 1 - chunkStart === chunk || step + 1 === n;
      if (boundary) {
        reads.push(exec.read(exec.view(acts.sampled, chunkStart, step + 1 - chunkStart)));
        chunkStart = step + 1;
        chunk = Math.min(32, 2 * chunk);
        if (chunkStart === 1) await deliver(); // the first token at once: the time to first token
      }
      if (writeToken) {
        this.model.forwardRows(undefined, { start: pos + 1, count: 1 });
        this.#pos = pos + 2;
      }
      if (boundary && reads.length > 1) await deliver(); // one read stays in flight while more is recorded
    }
    while (reads.length) {
      if (stopped) await reads.shift(); // let queued reads finish before the buffers are reused
      else await deliver();
    }
    return out;
  }

  #feed(tokens: readonly number[], logits: false | "last"): void {
    const { T, config } = this.model;
    const V = config.vocabSize;
    const pos = this.#pos;
    if (tokens.length < 1) throw new RangeError("the decoder needs at least one token to feed");
    if (pos + tokens.length > T) {
      throw new UserError(`The decoder holds ${T} positions; ${pos} are used and ${tokens.length} more do not fit`);
    }
    for (const token of tokens) {
      if (!(Number.isInteger(token) && token >= 0 && token < V)) {
        throw new UserError(`Token ${token} is outside the vocabulary [0, ${V})`);
      }
    }
    this.#tokens.set(tokens, pos);
    this.model.forwardRows(this.#tokens, { start: pos, count: tokens.length }, { logits });
    this.#pos = pos + tokens.length;
  }
}

/** Options of `generateTokens`. */
export interface GenerateOptions extends SamplingOptions {
  /** Number of tokens to sample. */
  maxNewTokens: number;
  /** Seed of the xorshift64* sampler (llm.c's generator). */
  seed: number;
  /** A generator to draw from instead (its state advances: the trainer's, saved in checkpoints); `seed` is then unused. */
  rng?: Xorshift64Star;
  /** false: no KV cache, a full forward pass over the whole prefix for every token (the reference). Default true. */
  cache?: boolean;
  /** false: feed the prompt one position at a time instead of in one pass (the reference for prefill). */
  prefill?: boolean;
}

/** Feeds a prompt one position at a time (logits only for the last); returns the last position's logits. */
async function stepEach<F, I>(decoder: GPT2Decoder<F, I>, prompt: readonly number[]): Promise<Float32Array> {
  for (let i = 0; i < prompt.length - 1; i++) await decoder.step(prompt[i], { logits: false });
  return await decoder.step(prompt[prompt.length - 1]);
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
 * @param onToken Called with each sampled token as soon as it is known (for streaming); returning false stops the
 *   generation after that token (a stop string was completed).
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
  onToken: (token: number) => unknown = () => {},
): Promise<number[]> {
  const { maxNewTokens: n, cache = true } = options;
  const { vocabSize: V, paddedVocabSize: Vp } = model.config;
  if (prompt.length < 1) throw new RangeError("generateTokens needs at least one prompt token");
  const needed = prompt.length + n - 1;
  if ((!cache && model.B !== 1) || model.T < needed) {
    const B = cache ? "" : "B = 1, ";
    throw new RangeError(`generateTokens needs a model at ${B}T >= ${needed}; got B = ${model.B}, T = ${model.T}`);
  }
  const rng = options.rng ?? new Xorshift64Star(options.seed);
  const sampling: SamplingOptions = { temperature: options.temperature, topK: options.topK, topP: options.topP };
  const out: number[] = [];
  if (n === 0) return out;
  if (cache) {
    const decoder = new GPT2Decoder(model);
    if (options.prefill !== false) {
      // Where the model runs: no logits row comes back per token.
      const coins = Float32Array.from({ length: n }, () => rng.nextFloat());
      return await decoder.sampleOnDevice(prompt, n, coins, sampling, onToken);
    }
    let logits = options.prefill === false ? await stepEach(decoder, prompt) : await decoder.prefill(prompt); // the whole prompt in one pass
    for (;;) {
      const token = sampleToken(logits, V, rng.nextFloat(), sampling);
      out.push(token);
      if (onToken(token) === false || out.length === n) return out;
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
    if (onToken(token) === false) break;
    if (pos + 1 < tokens.length) tokens[pos + 1] = token;
  }
  return out;
}

/**
 * The trainer's sample (`train -s`): `genTokens - 1` tokens after `<|endoftext|>`, drawn with the training model
 * itself through `generateTokens` (the KV cache, in the model's first batch row), as `gpt2 generate` draws them. A
 * sampled `<|endoftext|>` ends a document and shows as a paragraph break, never as the literal marker.
 *
 * @param model The model being trained (its activations are overwritten; the next step's forward rewrites them).
 * @param genTokens Length of the sample including the start token (≤ T).
 * @param rng The run's sampling generator (its state is saved in checkpoints).
 * @returns The decoded text.
 */
export async function sampleText<F, I>(model: GPT2<F, I>, genTokens: number, rng: Xorshift64Star): Promise<string> {
  const V = model.config.vocabSize;
  // GPT-2's EOT starts a sample; a model with a smaller vocabulary uses its last token id instead.
  const start = Math.min(GPT2_EOT, V - 1);
  const decoder = new StreamingDecoder();
  let text = "";
  await generateTokens(model, [start], { maxNewTokens: Math.max(0, genTokens - 1), seed: 0, rng }, (next) => {
    if (next === GPT2_EOT) text += decoder.flush() + (text ? "\n\n" : "");
    else text += decoder.push(next);
  });
  return text + decoder.flush();
}
