/// <reference lib="dom" />
/**
 * The page's "Sample" button: `gpt2 generate`'s sampling settings (temperature, top-k, top-p, tokens; its defaults
 * and its checks) and a sample streamed into the page token by token. The tokens are drawn one position at a time
 * through the library's KV-cache decoder (`GPT2Decoder.step`) and `sampleToken`, and the page gets the event loop
 * back after each one, so the text grows as it is decoded (on the CPU backend too, where no read waits).
 *
 * @module
 */
import { GPT2_EOT } from "../model/config.ts";
import { GPT2Decoder } from "../model/decoder.ts";
import type { GPT2 } from "../model/gpt2.ts";
import { StreamingDecoder } from "../prepro/tokenizer.ts";
import { sampleToken, Xorshift64Star } from "../train/sampler.ts";

/** The sampling settings, with `gpt2 generate`'s defaults. */
export interface SampleSettings {
  /** Softmax temperature, >= 0 (0: greedy). */
  temperature: number;
  /** Sample among the k most likely tokens, an integer >= 0 (0: all). */
  topK: number;
  /** Sample among the smallest set reaching probability p, in (0, 1]. */
  topP: number;
  /** Tokens to sample, an integer >= 1 (the model's T at most: more are cut to T). */
  tokens: number;
  /** Seed of the xorshift64* sampler. */
  seed: number;
}

/** `gpt2 generate`'s defaults. */
export const SAMPLE_DEFAULTS: SampleSettings = { temperature: 1, topK: 0, topP: 1, tokens: 64, seed: 1337 };

/**
 * Checks sampling settings typed into the page as `gpt2 generate` checks its flags.
 *
 * @param raw The fields' texts.
 * @returns The settings.
 * @throws Error with one sentence naming the first bad field.
 */
export function parseSampleSettings(raw: Record<keyof SampleSettings, string>): SampleSettings {
  const num = (name: string, text: string) => {
    const v = text.trim() === "" ? NaN : Number(text);
    if (!Number.isFinite(v)) throw new Error(`${name} must be a number, got '${text}'`);
    return v;
  };
  const int = (name: string, text: string, min: number) => {
    const v = num(name, text);
    if (!Number.isInteger(v) || v < min) throw new Error(`${name} must be an integer >= ${min}, got ${text}`);
    return v;
  };
  const temperature = num("temperature", raw.temperature);
  if (!(temperature >= 0)) throw new Error(`temperature must be >= 0, got ${raw.temperature}`);
  const topK = int("top-k", raw.topK, 0);
  const topP = num("top-p", raw.topP);
  if (!(topP > 0 && topP <= 1)) throw new Error(`top-p must be in (0, 1], got ${raw.topP}`);
  return { temperature, topK, topP, tokens: int("tokens", raw.tokens, 1), seed: int("seed", raw.seed, 0) };
}

/**
 * Samples after `<|endoftext|>` (a smaller vocabulary's last id) with the model as it is now, calling `onText`
 * with each piece of text as its token is decoded. The model's activations are overwritten (a training step
 * rewrites them), its weights are not touched.
 *
 * @param model Any GPT-2 of the page (a training model: batch row 0 is used).
 * @param s The sampling settings.
 * @param onText Receives the text of each token as it comes (a sampled `<|endoftext|>` is a paragraph break).
 * @returns The number of tokens sampled (at most the model's T).
 */
export async function streamSample<F, I>(
  model: GPT2<F, I>,
  s: SampleSettings,
  onText: (piece: string) => void,
): Promise<number> {
  const V = model.config.vocabSize;
  const n = Math.min(s.tokens, model.T);
  const decoder = new GPT2Decoder(model);
  const text = new StreamingDecoder();
  const rng = new Xorshift64Star(s.seed);
  const sampling = { temperature: s.temperature, topK: s.topK, topP: s.topP };
  let logits = await decoder.step(Math.min(GPT2_EOT, V - 1));
  for (let i = 0; i < n; i++) {
    const token = sampleToken(logits, V, rng.nextFloat(), sampling);
    onText(token === GPT2_EOT ? text.flush() + "\n\n" : text.push(token));
    await new Promise((resolve) => setTimeout(resolve, 0)); // the page repaints with the new piece
    if (i + 1 < n) logits = await decoder.step(token);
  }
  onText(text.flush());
  return n;
}
