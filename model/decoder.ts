/**
 * Incremental decoding (generation) for GPT-2 on any backend, and the sampling loop.
 *
 * `GPT2Decoder` feeds positions through `GPT2.forwardRows`, the same walk over the blocks as the training forward
 * pass, restricted to those rows: a prompt in one pass (`prefill`: the training attention over its rows), then one
 * position at a time (`step`: N = 1 for layernorm, matmul, GELU and residual, and the attention of the row's query
 * reads the key and value rows 0..pos in place, `attention.decode`). The planned qkv activation is the KV cache;
 * nothing is allocated per step. The token is drawn where the model runs (`sampleOnDevice`, `layers/sample.ts`:
 * greedy, temperature, top-k, top-p) and written into the next position's input, and the ids come back in chunks: no
 * read per token, and each step is submitted as soon as it is recorded. (`prefill: false` keeps the host-side loop that reads each logits row, as a reference.)
 * A model with B > 1 (a training model, for its periodic samples) decodes in its first batch row; several samples
 * decode together in one batched step per position (`generateSamples`: the rows of the samples interleaved).
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
  /** The model whose parameters and activation arena the decoder uses. */
  readonly model: GPT2<F, I>;
  /** Sequences decoded together, in lockstep (rows interleaved position-major: see `GPT2.forwardRows`). */
  readonly samples: number;
  readonly #tokens: Int32Array;
  #pos = 0;

  /**
   * @param model A GPT-2; its sequence length T is the decoder's capacity (batch row 0 is used, or with S samples
   *   the first S·T rows of the activations, which B ≥ S provides).
   * @param options `samples`: sequences decoded together (default 1), each row of a step being one sample.
   */
  constructor(model: GPT2<F, I>, options: { samples?: number } = {}) {
    const S = options.samples ?? 1;
    if (!(Number.isInteger(S) && S >= 1 && S <= model.B)) {
      throw new RangeError(`${S} samples need a model of batch size ≥ ${S}; this one has ${model.B}`);
    }
    this.model = model;
    this.samples = S;
    this.#tokens = new Int32Array(S * model.T);
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
   * Feeds `token` at the next position (of every sample) and returns the logits (Vp per sample) predicting the
   * token after it.
   *
   * @param token A token id < vocabSize.
   * @param options `logits: false` skips the final layernorm, vocabulary projection and readback (prompt tokens
   *   whose prediction is not needed); the promise then resolves to undefined.
   * @returns The logits rows of this position (padded columns included), copied to the host.
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
   * Feeds `tokens` at the next positions (of every sample) in one forward pass over their rows (a prompt) and
   * returns the logits (Vp per sample) predicting the token after the last of them. Equal, up to float rounding, to
   * feeding them one `step` at a time.
   *
   * @param tokens At least one token id < vocabSize.
   * @returns The logits rows of the last position (padded columns included), copied to the host.
   */
  async prefill(tokens: readonly number[]): Promise<Float32Array> {
    const S = this.samples;
    this.#feed(tokens, "last");
    return await this.model.exec.read(this.model.logitsOf((this.#pos - 1) * S, S));
  }

  /**
   * Samples `n` tokens after `prompt`, for every sample, where the model runs: the prompt in one pass, then each
   * step's tokens drawn by `sample.token` into the next position's inputs, so nothing waits for the GPU per token.
   * The ids come back in chunks of 1, 2, 4, … 32 steps (the first at once; then each chunk runs on the device while
   * the next is recorded) and reach `onToken` in order, step by step (sample 0 first).
   *
   * @param prompt At least one token id (every sample starts from it).
   * @param n Tokens to sample per sample (prompt.length + n - 1 ≤ capacity).
   * @param coins n·S uniforms in [0, 1): coins[step·S + s] is sample s's draw at that step (each sample's own
   *   stream, from the caller's generators).
   * @param sampling Temperature (0: the argmax), top-k, top-p.
   * @param onToken Receives each id with its sample; returning false stops that sample (its later ids are not
   *   delivered; when every sample has stopped, work already queued is discarded).
   * @returns The ids delivered, per sample.
   */
  async sampleOnDevice(
    prompt: readonly number[],
    n: number,
    coins: Float32Array,
    sampling: SamplingOptions,
    onToken: (token: number, sample: number) => unknown = () => {},
  ): Promise<number[][]> {
    const { exec, config } = this.model;
    const { vocabSize: V, paddedVocabSize: Vp } = config;
    const { acts, inputs } = this.model.tensors;
    const S = this.samples;
    if (coins.length !== n * S) throw new RangeError(`sampleOnDevice: ${coins.length} coins for ${n}·${S} tokens`);
    exec.write(exec.view(acts.coins, 0, n * S), coins);
    this.#feed(prompt, "last");
    const first = this.#pos; // the position the first sampled tokens go to
    const out: number[][] = Array.from({ length: S }, () => []);
    const stopped = new Array<boolean>(S).fill(false);
    let running = S;
    const reads: Promise<Float32Array>[] = [];
    const deliver = async () => {
      const ids = await reads.shift()!;
      for (let i = 0; i < ids.length; i++) {
        const s = i % S;
        if (stopped[s]) continue;
        const at = first + out[s].length;
        out[s].push(ids[i]);
        if (at < this.capacity) this.#tokens[at * S + s] = ids[i];
        if (onToken(ids[i], s) === false) {
          stopped[s] = true;
          running--;
        }
      }
    };
    let chunkStart = 0, chunk = 1;
    for (let step = 0; step < n && running > 0; step++) {
      const pos = this.#pos - 1; // the position whose logits predict this step's tokens
      const writeToken = step + 1 < n;
      const logits = this.model.logitsOf(pos * S, S);
      exec.run(sample.token, { tokens: inputs, sampled: acts.sampled, logits, coins: acts.coins }, {
        V,
        step: step * S,
        tokenAt: (pos + 1) * S,
        writeToken,
        samples: S,
        rowStride: Vp,
        temperature: sampling.temperature ?? 1,
        topK: sampling.topK,
        topP: sampling.topP,
      });
      const boundary = step + 1 - chunkStart === chunk || step + 1 === n;
      if (boundary) {
        // The previous chunk's ids first (it ran while this chunk was recorded), then this chunk is submitted with
        // its read: a wait never covers work submitted after the chunk it waits for, whether or not the backend's
        // wait covers everything submitted so far.
        if (reads.length) await deliver();
        reads.push(exec.read(exec.view(acts.sampled, chunkStart * S, (step + 1 - chunkStart) * S)));
        chunkStart = step + 1;
        chunk = Math.min(32, 2 * chunk);
        if (chunkStart === 1) await deliver(); // the first tokens at once: the time to first token
      }
      if (writeToken) {
        this.model.forwardRows(undefined, { start: (pos + 1) * S, count: S, samples: S });
        this.#pos = pos + 2;
      }
      // Each step goes to the GPU as soon as it is recorded: measured on the H200 (d12), submitting 32 steps at a
      // time left the GPU idle for most of each chunk (4.4 ms/token against 1.1 ms of GPU work); a submit per step
      // made it 2.9 ms/token.
      exec.flush?.();
    }
    while (reads.length) {
      if (running === 0) await reads.shift(); // let queued reads finish before the buffers are reused
      else await deliver();
    }
    return out;
  }

  #feed(tokens: readonly number[], logits: false | "last"): void {
    const { T, config } = this.model;
    const [V, S] = [config.vocabSize, this.samples];
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
    // Every sample's row of each position holds that position's token.
    tokens.forEach((token, i) => this.#tokens.fill(token, (pos + i) * S, (pos + i + 1) * S));
    const rows = { start: pos * S, count: tokens.length * S, samples: S };
    this.model.forwardRows(this.#tokens, rows, { logits });
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
  const sampling: SamplingOptions = { temperature: options.temperature, topK: options.topK, topP: options.topP };
  const out: number[] = [];
  if (n === 0) return out;
  if (cache && options.prefill !== false) {
    // Where the model runs: no logits row comes back per token.
    return (await generateSamples(model, prompt, { ...options, samples: 1 }, onToken))[0];
  }
  const rng = options.rng ?? new Xorshift64Star(options.seed);
  if (cache) {
    const decoder = new GPT2Decoder(model);
    let logits = await stepEach(decoder, prompt);
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
 * Samples `maxNewTokens` tokens after `prompt` for each of `samples` independent sequences in one batched decode
 * (`GPT2Decoder` with that many samples: each step is one forward pass over one row per sample). Sample s draws its
 * coins from its own xorshift64* stream seeded `seed + s` (or from `rng` when there is one sample), so it picks the
 * tokens `generateTokens` with seed `seed + s` picks, up to float rounding in products over several rows. The model
 * needs B ≥ samples and T ≥ prompt.length + maxNewTokens - 1.
 *
 * @param model A GPT-2.
 * @param prompt At least one token id, shared by every sample.
 * @param options Count, seed, sampling settings, and the number of samples.
 * @param onToken Called with each sampled token and its sample, step by step; returning false stops that sample.
 * @returns The sampled tokens of each sample (without the prompt).
 */
export async function generateSamples<F, I>(
  model: GPT2<F, I>,
  prompt: readonly number[],
  options: Omit<GenerateOptions, "cache" | "prefill"> & { samples: number },
  onToken: (token: number, sample: number) => unknown = () => {},
): Promise<number[][]> {
  const { maxNewTokens: n, samples: S } = options;
  if (prompt.length < 1) throw new RangeError("generateSamples needs at least one prompt token");
  const needed = prompt.length + n - 1;
  if (model.T < needed || model.B < S) {
    throw new RangeError(
      `generateSamples needs a model at B >= ${S}, T >= ${needed}; got B = ${model.B}, T = ${model.T}`,
    );
  }
  if (n === 0) return Array.from({ length: S }, () => []);
  const streams = S === 1 && options.rng ? [options.rng] : Array.from(
    { length: S },
    (_, s) => new Xorshift64Star(options.seed + s),
  );
  const coins = new Float32Array(n * S);
  for (let step = 0; step < n; step++) {
    for (let s = 0; s < S; s++) coins[step * S + s] = streams[s].nextFloat();
  }
  const sampling: SamplingOptions = { temperature: options.temperature, topK: options.topK, topP: options.topP };
  return await new GPT2Decoder(model, { samples: S }).sampleOnDevice(prompt, n, coins, sampling, onToken);
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
