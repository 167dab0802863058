/**
 * Tiny Shakespeare (Karpathy's char-rnn `input.txt`, 1,115,394 bytes) -> `tiny_shakespeare_val.bin` (the first
 * 32,768 tokens) and `tiny_shakespeare_train.bin` (the other 305,260), byte-identical to llm.c's
 * `dev/data/tinyshakespeare.py`, plus `gpt2_tokenizer.bin`.
 *
 * @module
 */
import { join } from "node:path";
import { UserError } from "../util/errors.ts";
import { decodeText, readSource, sha256Hex } from "./_source.ts";
import { type PreproResult, tokenizeDocuments, writeSplits } from "./text.ts";

/** Where the canonical `input.txt` is downloaded from. */
export const TINYSHAKESPEARE_URL =
  "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt";
/** SHA-256 of the canonical `input.txt`. */
export const TINYSHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed";
/** Size of the canonical `input.txt` in bytes. */
export const TINYSHAKESPEARE_BYTES = 1_115_394;
/** llm.c's val split: the first 32,768 tokens. */
export const TINYSHAKESPEARE_VAL_TOKENS = 32_768;

/** Options of {@linkcode preproTinyShakespeare}. */
export interface PreproTinyShakespeareOptions {
  /** Local path or URL of `input.txt`. Default: download {@linkcode TINYSHAKESPEARE_URL}. */
  from?: string;
  /** Output directory. Default `data/tinyshakespeare/`. */
  outDir?: string;
}

/**
 * Reads (or downloads) Tiny Shakespeare, checks its size and SHA-256, and writes llm.c's two shards and
 * `gpt2_tokenizer.bin`.
 *
 * @param options Source and output directory.
 * @returns What was written.
 * @example
 * ```ts ignore
 * import { preproTinyShakespeare } from "./tinyshakespeare.ts";
 * const r = await preproTinyShakespeare({ from: "../shared/data/tinyshakespeare/input.txt" });
 * console.log(r.val.tokens, r.train.tokens); // 32768 305260
 * ```
 */
export async function preproTinyShakespeare(options: PreproTinyShakespeareOptions = {}): Promise<PreproResult> {
  const start = performance.now();
  const source = options.from ?? TINYSHAKESPEARE_URL;
  const bytes = await readSource(source, "download it yourself and pass the local copy with --from PATH");
  const sha256 = await sha256Hex(bytes);
  if (bytes.length !== TINYSHAKESPEARE_BYTES || sha256 !== TINYSHAKESPEARE_SHA256) {
    throw new UserError(
      `${source}: not the canonical Tiny Shakespeare input.txt (${bytes.length} bytes, sha256 ${sha256}; ` +
        `expected ${TINYSHAKESPEARE_BYTES} bytes, sha256 ${TINYSHAKESPEARE_SHA256}); use 'prepro text' for other files`,
    );
  }
  const tokens = tokenizeDocuments(decodeText(source, bytes));
  const outDir = options.outDir ?? join("data", "tinyshakespeare");
  const files = await writeSplits(outDir, "tiny_shakespeare", tokens, TINYSHAKESPEARE_VAL_TOKENS);
  return {
    dataset: "tinyshakespeare",
    source,
    bytes: bytes.length,
    sha256,
    tokens: tokens.length,
    ...files,
    seconds: Math.round(performance.now() - start) / 1000,
  };
}
