/**
 * GPT-2 model shapes: the config type, llm.c's depth presets (`d6` … `d48`) and the explicit
 * `layers=L,heads=H,channels=C,seq=T` form accepted by `-e`.
 *
 * @module
 */
import { UsageError } from "../util/errors.ts";

/** Shape of a GPT-2 model, as in llm.c's checkpoint header. */
export interface GPT2Config {
  /** Max sequence length T_max (1024 for GPT-2). */
  maxSeqLen: number;
  /** Vocabulary size V (50257 for GPT-2). */
  vocabSize: number;
  /** V padded up to a multiple of 128 (50304 for GPT-2); wte has Vp rows, the padded rows stay zero. */
  paddedVocabSize: number;
  /** Number of transformer blocks L. */
  numLayers: number;
  /** Number of attention heads NH; channels must be divisible by it. */
  numHeads: number;
  /** Embedding width C. */
  channels: number;
}

/** GPT-2's vocabulary: 50,000 merges + 256 byte tokens + <|endoftext|>. */
export const GPT2_VOCAB_SIZE = 50257;
/** Token id of `<|endoftext|>`. */
export const GPT2_EOT = 50256;

/** llm.c's depth presets: d6, d12 (GPT-2 124M), d24 (350M), d36 (774M), d48 (1558M). */
export const DEPTH_PRESETS: Record<string, { numLayers: number; numHeads: number; channels: number }> = {
  d6: { numLayers: 6, numHeads: 6, channels: 384 },
  d12: { numLayers: 12, numHeads: 12, channels: 768 },
  d24: { numLayers: 24, numHeads: 16, channels: 1024 },
  d36: { numLayers: 36, numHeads: 20, channels: 1280 },
  d48: { numLayers: 48, numHeads: 25, channels: 1600 },
};

/**
 * Rounds a vocabulary size up to llm.c's padding multiple of 128.
 *
 * @param vocabSize V.
 * @returns Vp.
 * @example
 * ```ts
 * import { padVocab } from "./config.ts";
 * if (padVocab(50257) !== 50304) throw new Error("GPT-2 pads to 50304");
 * ```
 */
export function padVocab(vocabSize: number): number {
  return Math.ceil(vocabSize / 128) * 128;
}

/**
 * Parses a model descriptor that is not a file: `d12` or `layers=2,heads=4,channels=64,seq=128[,vocab=V]`.
 *
 * @param spec The descriptor.
 * @returns The config, or undefined when `spec` is neither form (the caller then treats it as a file path).
 * @example
 * ```ts
 * import { parseModelDescriptor } from "./config.ts";
 * const cfg = parseModelDescriptor("layers=2,heads=3,channels=30,seq=64")!;
 * if (cfg.paddedVocabSize !== 50304) throw new Error("vocab defaults to GPT-2's");
 * ```
 */
export function parseModelDescriptor(spec: string): GPT2Config | undefined {
  const preset = DEPTH_PRESETS[spec];
  if (preset) {
    return { maxSeqLen: 1024, vocabSize: GPT2_VOCAB_SIZE, paddedVocabSize: padVocab(GPT2_VOCAB_SIZE), ...preset };
  }
  if (!/^[a-z]+=/.test(spec)) return undefined;
  const fields: Record<string, number> = {};
  for (const part of spec.split(",")) {
    const m = /^(layers|heads|channels|seq|vocab)=(\d+)$/.exec(part.trim());
    if (!m) {
      throw new UsageError(
        `model descriptor '${spec}': cannot parse '${part}' (want layers=L,heads=H,channels=C,seq=T)`,
      );
    }
    fields[m[1]] = Number(m[2]);
  }
  for (const key of ["layers", "heads", "channels", "seq"]) {
    if (!(fields[key] > 0)) throw new UsageError(`model descriptor '${spec}': missing or zero '${key}='`);
  }
  const vocabSize = fields.vocab ?? GPT2_VOCAB_SIZE;
  const cfg: GPT2Config = {
    maxSeqLen: fields.seq,
    vocabSize,
    paddedVocabSize: padVocab(vocabSize),
    numLayers: fields.layers,
    numHeads: fields.heads,
    channels: fields.channels,
  };
  validateConfig(cfg, `model descriptor '${spec}'`);
  return cfg;
}

/**
 * Checks the invariants every backend relies on; throws a UsageError naming `source` otherwise.
 *
 * @param cfg The config to check.
 * @param source Where it came from, for the message (a file name or descriptor).
 */
export function validateConfig(cfg: GPT2Config, source: string): void {
  const positive = ["maxSeqLen", "vocabSize", "paddedVocabSize", "numLayers", "numHeads", "channels"] as const;
  for (const k of positive) {
    if (!Number.isInteger(cfg[k]) || cfg[k] <= 0) throw new UsageError(`${source}: ${k} must be a positive integer`);
  }
  if (cfg.channels % cfg.numHeads !== 0) {
    throw new UsageError(`${source}: channels (${cfg.channels}) must be divisible by heads (${cfg.numHeads})`);
  }
  if (cfg.paddedVocabSize < cfg.vocabSize) {
    throw new UsageError(`${source}: padded vocab ${cfg.paddedVocabSize} is smaller than vocab ${cfg.vocabSize}`);
  }
}
