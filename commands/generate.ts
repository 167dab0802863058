/**
 * `gpt2 generate`: samples text from a model (checkpoint, Hugging Face directory, `dN` preset or shape descriptor)
 * with a KV cache (the prompt prefilled in one pass), streaming complete UTF-8 text to stdout as tokens are sampled,
 * or with `--json` one JSON line per event: `start`, a `token` per sampled token, `end`. `--stop TEXT` ends a sample
 * where TEXT appears; `--num-samples N` draws N continuations in one batched decode (sample i with seed + i; the
 * first streams, the others follow it, separated by `---` lines). The time to the first token and the tokens/s go to
 * stderr (and the `end` event).
 *
 * @module
 */
import type { Command } from "./_command.ts";
import { createModel, parseDeviceChoice, parsePrecisionChoice } from "../model/backends.ts";
import { parseAttentionKind } from "../model/block.ts";
import { GPT2_EOT } from "../model/config.ts";
import { generateSamples, generateTokens } from "../model/decoder.ts";
import { loadParameters, resolveModelSource } from "../model/source.ts";
import { decode, encode, StreamingDecoder } from "../prepro/tokenizer.ts";
import { UsageError } from "../util/errors.ts";
import { type CommandSpec, parseFlagsOnly, requireInt } from "../util/flags.ts";

const SPEC: CommandSpec = {
  usage: "gpt2 generate -e MODEL [options]",
  description: "Sample text from a model with a KV cache, streamed to stdout as it is produced.\n" +
    "Example: gpt2 generate -e out/model_00000200.bin --prompt 'ROMEO:' -n 100 --top-k 40",
  flags: [
    {
      name: "model",
      short: "e",
      kind: "string",
      help: "checkpoint file, Hugging Face directory, d6|d12|…, or layers=L,heads=H,channels=C,seq=T",
    },
    { name: "prompt", kind: "string", default: "", help: "text to continue ('' starts from <|endoftext|>)" },
    { name: "tokens", short: "n", kind: "int", default: 64, help: "tokens to sample" },
    {
      name: "num-samples",
      kind: "int",
      default: 1,
      help: "independent continuations of the prompt, decoded together; sample i drawn with seed + i",
    },
    { name: "temperature", kind: "float", default: 1, help: "softmax temperature (0: greedy)" },
    { name: "top-k", kind: "int", default: 0, help: "sample among the k most likely tokens (0: all)" },
    { name: "top-p", kind: "float", default: 1, help: "sample among the smallest set reaching probability p" },
    { name: "seed", kind: "int", default: 1337, help: "seed of the sampler (and of a random init)" },
    { name: "device", kind: "string", default: "auto", help: "auto | gpu | cpu" },
    { name: "attention", kind: "string", default: "materialized", help: "materialized | flash (see gpt2 train)" },
    {
      name: "precision",
      kind: "string",
      default: "fp32",
      help: "fp32 | f16 (the matmuls read an f16 copy of the weights) | auto (f16 where the GPU has shader-f16)",
    },
    { name: "no-cache", kind: "bool", default: false, help: "recompute the whole prefix for every token (reference)" },
    { name: "stop", kind: "string", default: "", help: "end the sample where this text appears (it is not printed)" },
    { name: "json", kind: "bool", default: false, help: "JSON lines on stdout: start, one token event per token, end" },
  ],
};

/** The `generate` command. */
export const generateCommand: Command = {
  name: "generate",
  summary: "sample text from a model (KV cache, streamed, temperature / top-k / top-p)",
  async run(argv) {
    const f = parseFlagsOnly(argv, SPEC, "generate");
    if (!f) return 0;
    const v = f.values;
    const spec = v["model"] as string | undefined;
    if (spec === undefined || spec === "") throw new UsageError("-e: give a model; see 'gpt2 generate --help'");
    const n = requireInt("-n", v["tokens"], 1);
    const samples = requireInt("--num-samples", v["num-samples"], 1);
    const temperature = v["temperature"] as number;
    if (!(temperature >= 0)) throw new UsageError(`--temperature: must be >= 0, got ${temperature}`);
    const topK = requireInt("--top-k", v["top-k"], 0);
    const topP = v["top-p"] as number;
    if (!(topP > 0 && topP <= 1)) throw new UsageError(`--top-p: must be in (0, 1], got ${topP}`);
    const seed = requireInt("--seed", v["seed"], 0);
    const device = parseDeviceChoice(v["device"] as string);
    const attention = parseAttentionKind(v["attention"] as string);
    const precision = parsePrecisionChoice(v["precision"] as string);
    const promptText = v["prompt"] as string;
    const stopText = v["stop"] as string;

    const source = await resolveModelSource(spec);
    const cfg = source.config;
    // No prompt: GPT-2's end-of-text token (or token 0 for a vocabulary too small to hold it).
    const prompt = promptText === "" ? [GPT2_EOT < cfg.vocabSize ? GPT2_EOT : 0] : encode(promptText);
    const bad = prompt.find((t) => t >= cfg.vocabSize);
    if (bad !== undefined) {
      throw new UsageError(
        `--prompt: encodes to token ${bad}, outside this model's vocabulary of ${cfg.vocabSize}`,
      );
    }
    const T = Math.max(1, prompt.length + n - 1);
    if (T > cfg.maxSeqLen) {
      throw new UsageError(
        `-n: the prompt (${count(prompt.length, "token")}) plus ${count(n, "new token")} needs ${T} positions; ` +
          `the model holds ${cfg.maxSeqLen}`,
      );
    }
    const json = v["json"] === true;
    const cache = !v["no-cache"];
    // With the cache the samples decode together (one row each per step); without it, one after another.
    const batch = cache ? samples : 1;
    // Activations for the rows in flight only (the prompt's, then one per sample a step); qkv keeps every position.
    const rowsInFlight = cache ? batch * prompt.length : undefined;
    const plan = { training: false, attention, rowsInFlight, precision };
    const placed = await createModel(cfg, batch, T, device, plan);
    const { model } = placed;
    const description = placed.precision === "f16" ? `${placed.description}, f16 weights` : placed.description;
    try {
      await loadParameters(model, source, seed);
      const stdout = new TextEncoder();
      const write = (text: string) => {
        if (text) Deno.stdout.writeSync(stdout.encode(text));
      };
      const event = (e: GenerateEvent) => write(JSON.stringify(e) + "\n");
      // What the model holds: the weights, the KV cache and the activations in flight (no training state).
      const P = model.layout.params.totalElements;
      const tensorBytes = 4 * (P + model.layout.acts.totalElements) + (placed.precision === "f16" ? 2 * P : 0);
      if (json) {
        const info = {
          model: spec,
          device: description,
          prompt: promptText,
          promptTokens: prompt.length,
          newTokens: n,
          samples,
          tensorBytes,
        };
        event({ type: "start", ...info, cache });
      } else {
        const what = samples > 1 ? `${samples} samples of ${count(n, "token")}` : count(n, "token");
        const how = cache ? (samples > 1 ? ", batched" : "") : ", no cache";
        const memory = `${(tensorBytes / 2 ** 30).toFixed(2)} GiB of tensors`;
        console.error(`generate: ${description}, ${what} after ${prompt.length}${how} (${memory})`);
      }
      decode([0]); // parses the tokenizer's tables now (~0.1 s), not inside the first sample's first token
      const started = performance.now();
      let total = 0;
      for (let first = 0; first < samples; first += batch) {
        const runs = Array.from({ length: batch }, (_, i) => new SampleRun(first + i, stopText));
        const start = performance.now();
        // Sample 0 streams to stdout as it is drawn; the others of a batch print, in order, when it ends.
        if (!json && first === 0) write(promptText);
        const onToken = (token: number, i: number) => {
          const run = runs[i];
          const piece = run.push(token, (performance.now() - start) / 1000);
          if (json) event({ type: "token", ...(samples > 1 ? { sample: run.sample } : {}), token, text: piece });
          else if (run.sample === 0) write(piece);
          return !run.stop.done;
        };
        if (cache) {
          await generateSamples(model, prompt, { maxNewTokens: n, seed, samples, temperature, topK, topP }, onToken);
        } else {
          const options = { maxNewTokens: n, seed: seed + first, temperature, topK, topP, cache };
          await generateTokens(model, prompt, options, (token) => onToken(token, 0));
        }
        const seconds = (performance.now() - start) / 1000;
        for (const run of runs) {
          const rest = run.finish();
          total += run.sampled;
          const tokensPerSecond = seconds > 0 ? run.sampled / seconds : 0;
          const { sampled: tokens, firstTokenSeconds, text } = run;
          const stopped = run.stop.done;
          if (json) {
            const which = samples > 1 ? { sample: run.sample } : {};
            event({ type: "end", ...which, tokens, seconds, firstTokenSeconds, tokensPerSecond, stopped, text });
            continue;
          }
          write(run.sample === 0 ? rest + "\n" : `---\n${promptText}${text}\n`);
          const firstToken = Number.isFinite(firstTokenSeconds)
            ? `, first token after ${(firstTokenSeconds * 1000).toFixed(0)} ms`
            : "";
          const label = samples > 1 ? `sample ${run.sample + 1}/${samples}: ` : "";
          console.error(
            `generate: ${label}${count(tokens, "token")} in ${seconds.toFixed(2)} s (${tokensPerSecond.toFixed(1)} ` +
              `tok/s${firstToken})${stopped ? `, stopped at ${JSON.stringify(stopText)}` : ""}`,
          );
        }
      }
      if (samples > 1 && !json) {
        const seconds = (performance.now() - started) / 1000;
        console.error(
          `generate: ${count(total, "token")} in ${seconds.toFixed(2)} s over ${samples} samples ` +
            `(${(total / seconds).toFixed(1)} tok/s)`,
        );
      }
    } finally {
      model.close();
    }
    return 0;
  },
};

/** One sample's text as its tokens arrive: UTF-8 pieces, the stop string, the first token's time. */
class SampleRun {
  readonly sample: number;
  readonly stop: StopText;
  readonly #decoder = new StreamingDecoder();
  text = "";
  sampled = 0;
  firstTokenSeconds = NaN;

  constructor(sample: number, stopText: string) {
    this.sample = sample;
    this.stop = new StopText(stopText);
  }

  /** Takes a token drawn `seconds` after the start; returns the text it completes (cut at the stop string). */
  push(token: number, seconds: number): string {
    if (this.sampled++ === 0) this.firstTokenSeconds = seconds;
    const piece = this.stop.push(this.#decoder.push(token));
    this.text += piece;
    return piece;
  }

  /** The text still held back (an incomplete UTF-8 sequence, a possible start of the stop string). */
  finish(): string {
    const rest = this.stop.done ? "" : this.stop.push(this.#decoder.flush()) + this.stop.flush();
    this.text += rest;
    return rest;
  }
}

/** One `--json` line. `token.text` is what the token completes ("" inside a UTF-8 sequence); `end.text` is the
 * whole continuation (the pieces, plus U+FFFD for a sequence left incomplete), without the prompt. */
type GenerateEvent =
  | {
    type: "start";
    model: string;
    device: string;
    prompt: string;
    promptTokens: number;
    newTokens: number;
    samples: number;
    /** Bytes of the model's tensors: weights, KV cache and activations in flight. */
    tensorBytes: number;
    cache: boolean;
  }
  | { type: "token"; sample?: number; token: number; text: string }
  | {
    type: "end";
    /** With --num-samples > 1: which sample (from 0); every event of a sample carries it. */
    sample?: number;
    tokens: number;
    seconds: number;
    /** Seconds from the start (prompt included) to the first sampled token. */
    firstTokenSeconds: number;
    tokensPerSecond: number;
    /** Whether the `--stop` text ended the sample (it is not part of `text`). */
    stopped: boolean;
    text: string;
  };

/**
 * Holds back streamed text while it could be the start of the stop string, so that the stop string itself is never
 * printed: `push` returns what is safe to print, `done` turns true once the stop string is complete.
 *
 * @example
 * ```ts
 * const stop = new StopText("END");
 * const out = stop.push("ab E") + stop.push("N") + stop.push("D tail");
 * if (out !== "ab " || !stop.done) throw new Error("stops before END");
 * ```
 */
export class StopText {
  readonly #stop: string;
  #pending = "";
  /** Whether the stop string has appeared. */
  done = false;

  /** @param stop The stop string ("" never stops). */
  constructor(stop: string) {
    this.#stop = stop;
  }

  /** Takes the next piece of text; returns the part that is certainly before any stop string. */
  push(piece: string): string {
    if (this.done) return "";
    if (!this.#stop) return piece;
    const text = this.#pending + piece;
    const at = text.indexOf(this.#stop);
    if (at >= 0) {
      this.done = true;
      this.#pending = "";
      return text.slice(0, at);
    }
    let keep = Math.min(this.#stop.length - 1, text.length);
    while (keep > 0 && !this.#stop.startsWith(text.slice(text.length - keep))) keep--;
    this.#pending = text.slice(text.length - keep);
    return text.slice(0, text.length - keep);
  }

  /** The text held back at the end of a sample that never completed the stop string. */
  flush(): string {
    const rest = this.#pending;
    this.#pending = "";
    return rest;
  }
}

/** "1 token", "2 tokens". */
function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}
