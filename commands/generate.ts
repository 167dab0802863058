/**
 * `gpt2 generate`: samples text from a model (checkpoint, Hugging Face directory, `dN` preset or shape descriptor)
 * with a KV cache, streaming complete UTF-8 text to stdout as tokens are sampled, or with `--json` one JSON line per
 * event: `start`, a `token` per sampled token, `end`.
 *
 * @module
 */
import type { Command } from "./_command.ts";
import { createModel, parseDeviceChoice } from "../model/backends.ts";
import { GPT2_EOT } from "../model/config.ts";
import { generateTokens } from "../model/decoder.ts";
import { loadParameters, resolveModelSource } from "../model/source.ts";
import { encode, StreamingDecoder } from "../prepro/tokenizer.ts";
import { UsageError, UserError } from "../util/errors.ts";
import { type CommandSpec, helpText, parseFlags, requireInt } from "../util/flags.ts";

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
    { name: "temperature", kind: "float", default: 1, help: "softmax temperature (0: greedy)" },
    { name: "top-k", kind: "int", default: 0, help: "sample among the k most likely tokens (0: all)" },
    { name: "top-p", kind: "float", default: 1, help: "sample among the smallest set reaching probability p" },
    { name: "seed", kind: "int", default: 1337, help: "seed of the sampler (and of a random init)" },
    { name: "device", kind: "string", default: "auto", help: "auto | gpu | cpu" },
    { name: "no-cache", kind: "bool", default: false, help: "recompute the whole prefix for every token (reference)" },
    { name: "json", kind: "bool", default: false, help: "JSON lines on stdout: start, one token event per token, end" },
  ],
};

/** The `generate` command. */
export const generateCommand: Command = {
  name: "generate",
  summary: "sample text from a model (KV cache, streamed, temperature / top-k / top-p)",
  async run(argv) {
    const f = parseFlags(argv, SPEC);
    if (f.help) {
      console.log(helpText(SPEC));
      return 0;
    }
    if (f.positionals.length) {
      throw new UsageError(`Unexpected argument '${f.positionals[0]}'; see 'gpt2 generate --help'`);
    }
    const v = f.values;
    const spec = v["model"] as string | undefined;
    if (spec === undefined || spec === "") throw new UsageError("-e: give a model; see 'gpt2 generate --help'");
    const n = requireInt("-n", v["tokens"], 0);
    const temperature = v["temperature"] as number;
    if (!(temperature >= 0)) throw new UsageError(`--temperature: must be >= 0, got ${temperature}`);
    const topK = requireInt("--top-k", v["top-k"], 0);
    const topP = v["top-p"] as number;
    if (!(topP > 0 && topP <= 1)) throw new UsageError(`--top-p: must be in (0, 1], got ${topP}`);
    const seed = requireInt("--seed", v["seed"], 0);
    const device = parseDeviceChoice(v["device"] as string);
    const promptText = v["prompt"] as string;

    const source = await resolveModelSource(spec);
    const cfg = source.config;
    // No prompt: GPT-2's end-of-text token (or token 0 for a vocabulary too small to hold it).
    const prompt = promptText === "" ? [GPT2_EOT < cfg.vocabSize ? GPT2_EOT : 0] : encode(promptText);
    const bad = prompt.find((t) => t >= cfg.vocabSize);
    if (bad !== undefined) {
      throw new UserError(`The prompt encodes to token ${bad}, outside this model's vocabulary of ${cfg.vocabSize}`);
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
    const { model, description } = await createModel(cfg, 1, T, device);
    try {
      await loadParameters(model, source, seed);
      const stdout = new TextEncoder();
      const write = (text: string) => {
        if (text) Deno.stdout.writeSync(stdout.encode(text));
      };
      const event = (e: GenerateEvent) => write(JSON.stringify(e) + "\n");
      if (json) {
        const info = {
          model: spec,
          device: description,
          prompt: promptText,
          promptTokens: prompt.length,
          newTokens: n,
        };
        event({ type: "start", ...info, cache });
      } else {
        console.error(
          `generate: ${description}, ${count(n, "token")} after ${prompt.length}${cache ? "" : ", no cache"}`,
        );
        write(promptText);
      }
      const decoder = new StreamingDecoder();
      let text = "";
      const start = performance.now();
      await generateTokens(
        model,
        prompt,
        { maxNewTokens: n, seed, temperature, topK, topP, cache },
        (token) => {
          const piece = decoder.push(token);
          text += piece;
          if (json) event({ type: "token", token, text: piece });
          else write(piece);
        },
      );
      const rest = decoder.flush();
      text += rest;
      const seconds = (performance.now() - start) / 1000;
      const tokensPerSecond = seconds > 0 ? n / seconds : 0;
      if (json) {
        event({ type: "end", tokens: n, seconds, tokensPerSecond, text });
      } else {
        write(rest + "\n");
        console.error(
          `generate: ${count(n, "token")} in ${seconds.toFixed(2)} s (${tokensPerSecond.toFixed(1)} tok/s)`,
        );
      }
    } finally {
      model.close();
    }
    return 0;
  },
};

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
    cache: boolean;
  }
  | { type: "token"; token: number; text: string }
  | { type: "end"; tokens: number; seconds: number; tokensPerSecond: number; text: string };

/** "1 token", "2 tokens". */
function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}
