/**
 * Any UTF-8 text file -> llm.c token shards, with llm.c's document rule: the text is split on blank lines
 * (`"\n\n"`) into sections, each section is preceded by EOT (50256), and every section but the last keeps its
 * `"\n\n"`. The first `valFraction` of the tokens is the val split, the rest the train split.
 *
 * @module
 */
import { join } from "node:path";
import { GPT2_VOCAB_SIZE } from "../model/config.ts";
import { UsageError, UserError } from "../util/errors.ts";
import { decodeText, readSource, sha256Hex, sourceStem } from "./_source.ts";
import { writeShard } from "./shard.ts";
import { writeLlmcTokenizer } from "./tokenizer.ts";
import { tokenizeDocuments, valTokenCount } from "./documents.ts";

export { tokenizeDocuments } from "./documents.ts";

/** One output file of a prepro run. */
export interface PreproFile {
  /** Where it was written. */
  path: string;
  /** Tokens in it (for the tokenizer file: its vocabulary size). */
  tokens: number;
}

/** What a prepro run did; the CLI prints it, or prints it as JSON with `--json`. */
export interface PreproResult {
  /** "tinyshakespeare" or "text". */
  dataset: string;
  /** The input path or URL. */
  source: string;
  /** Size of the input in bytes. */
  bytes: number;
  /** SHA-256 of the input, lower-case hex. */
  sha256: string;
  /** All tokens, val + train. */
  tokens: number;
  /** The val split (the first tokens). */
  val: PreproFile;
  /** The train split (the rest). */
  train: PreproFile;
  /** llm.c's `gpt2_tokenizer.bin`. */
  tokenizer: PreproFile;
  /** Wall time of the whole run (read, tokenize, write). */
  seconds: number;
}

/** Options of {@linkcode preproText}. */
export interface PreproTextOptions {
  /** Fraction of the tokens, from the start, that goes to the val split; in (0, 1). Default 0.1. */
  valFraction?: number;
  /** Output directory. Default `data/<stem>/`, where `<stem>` is the file name without its extension. */
  outDir?: string;
}

/**
 * Writes `<stem>_val.bin` (the first `valTokens` tokens), `<stem>_train.bin` (the rest) and `gpt2_tokenizer.bin`
 * into `outDir`, each atomically.
 *
 * @param outDir Output directory (created if missing).
 * @param stem File name prefix, e.g. "tiny_shakespeare".
 * @param tokens All tokens.
 * @param valTokens How many leading tokens form the val split.
 * @returns The three files and their token counts.
 */
export async function writeSplits(
  outDir: string,
  stem: string,
  tokens: number[],
  valTokens: number,
): Promise<{ val: PreproFile; train: PreproFile; tokenizer: PreproFile }> {
  const val = { path: join(outDir, `${stem}_val.bin`), tokens: valTokens };
  const train = { path: join(outDir, `${stem}_train.bin`), tokens: tokens.length - valTokens };
  const tokenizer = { path: join(outDir, "gpt2_tokenizer.bin"), tokens: GPT2_VOCAB_SIZE };
  await writeShard(val.path, tokens.slice(0, valTokens));
  await writeShard(train.path, tokens.slice(valTokens));
  await writeLlmcTokenizer(tokenizer.path);
  return { val, train, tokenizer };
}

/**
 * Tokenizes a UTF-8 text file (path or URL) into llm.c shards `<stem>_val.bin` / `<stem>_train.bin` plus
 * `gpt2_tokenizer.bin`.
 *
 * @param source Path or `http(s)://` / `file://` URL of the text.
 * @param options Val fraction and output directory.
 * @returns What was written.
 * @example
 * ```ts
 * import { preproText } from "./text.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/poem.txt`, "Roses are red.\n\nViolets are blue.\n\nSugar is sweet.");
 * const r = await preproText(`${dir}/poem.txt`, { valFraction: 0.25, outDir: dir });
 * console.log(r.val.path.endsWith("poem_val.bin"), r.val.tokens + r.train.tokens === r.tokens); // true true
 * ```
 */
export async function preproText(source: string, options: PreproTextOptions = {}): Promise<PreproResult> {
  const start = performance.now();
  const valFraction = options.valFraction ?? 0.1;
  if (!(valFraction > 0 && valFraction < 1)) {
    throw new UsageError(`--val-fraction must be between 0 and 1 (exclusive), got ${valFraction}`);
  }
  const stem = sourceStem(source);
  const bytes = await readSource(source);
  const tokens = tokenizeDocuments(decodeText(source, bytes));
  const valTokens = valTokenCount(tokens.length, valFraction);
  if (valTokens < 1 || valTokens >= tokens.length) {
    throw new UserError(
      `${source}: only ${tokens.length} token${tokens.length === 1 ? "" : "s"}, too few to split with a val fraction ` +
        `of ${valFraction}; give a longer text or a different --val-fraction`,
    );
  }
  const files = await writeSplits(options.outDir ?? join("data", stem), stem, tokens, valTokens);
  return {
    dataset: "text",
    source,
    bytes: bytes.length,
    sha256: await sha256Hex(bytes),
    tokens: tokens.length,
    ...files,
    seconds: Math.round(performance.now() - start) / 1000,
  };
}
