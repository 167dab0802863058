/**
 * GPT-2's byte-level BPE tokenizer (the `gpt2` ranks shipped by `js-tiktoken`, merged as tiktoken merges them):
 * encode, decode, the raw bytes of every token, a streaming decoder for generation, and llm.c's
 * `gpt2_tokenizer.bin` so llm.c's sampler can decode our runs.
 *
 * `<|endoftext|>` inside a text is encoded as ordinary text (like tiktoken's `encode_ordinary`, which llm.c's
 * prepro scripts use; they insert EOT 50256 themselves) unless `{ allowSpecial: true }` is passed.
 *
 * The rank tables are parsed on first use (about 25 ms), not at import.
 *
 * @module
 */
import { GPT2_EOT } from "../model/config.ts";
import { bpeTables, encodeOrdinaryInto } from "./_bpe.ts";
import { writeFileAtomic } from "../util/fs.ts";

/** Magic number of llm.c's tokenizer file. */
export const LLMC_TOKENIZER_MAGIC = 20240328;
/** Version 2 of llm.c's tokenizer file carries the EOT id in the header. */
export const LLMC_TOKENIZER_VERSION = 2;

/** Options of {@linkcode encode}. */
export interface EncodeOptions {
  /** Encode the text `<|endoftext|>` as the EOT token 50256 instead of as ordinary text. Default false. */
  allowSpecial?: boolean;
}

/**
 * Encodes text to GPT-2 token ids.
 *
 * @param text Any string; lone surrogates become U+FFFD (the UTF-8 encoder's rule).
 * @param options `allowSpecial`: treat `<|endoftext|>` as the EOT token (default: as plain text).
 * @returns Token ids in [0, 50257).
 * @example
 * ```ts
 * import { encode } from "./tokenizer.ts";
 * console.log(encode("Hello world")); // [15496, 995]
 * ```
 */
export function encode(text: string, options: EncodeOptions = {}): number[] {
  const out: number[] = [];
  if (!options.allowSpecial) {
    encodeOrdinaryInto(text, out);
    return out;
  }
  const parts = text.split(EOT_TEXT);
  for (let i = 0; i < parts.length; i++) {
    if (i > 0) out.push(GPT2_EOT);
    encodeOrdinaryInto(parts[i], out);
  }
  return out;
}

const EOT_TEXT = "<|endoftext|>";

/**
 * Decodes token ids to text. Byte sequences that are not valid UTF-8 (a multi-byte character cut between calls)
 * become U+FFFD; use {@linkcode StreamingDecoder} to decode a stream of tokens.
 *
 * @param tokens Token ids; 50256 decodes to `<|endoftext|>`.
 * @returns The text.
 * @example
 * ```ts
 * import { decode } from "./tokenizer.ts";
 * console.log(decode([15496, 995])); // "Hello world"
 * ```
 */
export function decode(tokens: ArrayLike<number>): string {
  return new TextDecoder().decode(decodeBytes(tokens));
}

/**
 * The raw bytes of one token (not a lossy string: many tokens are a fragment of a UTF-8 character).
 *
 * @param id Token id in [0, 50257).
 * @returns The bytes (do not modify: the array is shared).
 * @example
 * ```ts
 * import { tokenBytes } from "./tokenizer.ts";
 * console.log(tokenBytes(198)); // Uint8Array [10]  ("\n")
 * ```
 */
export function tokenBytes(id: number): Uint8Array {
  const table = bpeTables().bytes;
  if (!Number.isInteger(id) || id < 0 || id >= table.length) {
    throw new RangeError(`Token id ${id} is outside the GPT-2 vocabulary [0, ${table.length})`);
  }
  return table[id];
}

/**
 * The concatenated raw bytes of a token sequence.
 *
 * @param tokens Token ids.
 * @returns UTF-8 bytes (possibly ending in an incomplete character).
 */
export function decodeBytes(tokens: ArrayLike<number>): Uint8Array {
  let length = 0;
  for (let i = 0; i < tokens.length; i++) length += tokenBytes(tokens[i]).length;
  const out = new Uint8Array(length);
  let at = 0;
  for (let i = 0; i < tokens.length; i++) {
    const b = tokenBytes(tokens[i]);
    out.set(b, at);
    at += b.length;
  }
  return out;
}

/**
 * Decodes tokens one at a time (as a sampler produces them) and returns only complete UTF-8 text: bytes of a
 * character split across tokens are held back until the character is complete.
 *
 * @example
 * ```ts
 * import { encode, StreamingDecoder } from "./tokenizer.ts";
 * const dec = new StreamingDecoder();
 * let text = "";
 * for (const id of encode("naïve 🙂")) text += dec.push(id);
 * text += dec.flush();
 * console.log(text); // "naïve 🙂"
 * ```
 */
export class StreamingDecoder {
  #utf8 = new TextDecoder("utf-8", { ignoreBOM: true });

  /**
   * Adds tokens and returns the text they complete.
   *
   * @param tokens One token id or several.
   * @returns Newly completed text (may be empty while a character is incomplete).
   */
  push(tokens: number | ArrayLike<number>): string {
    const ids = typeof tokens === "number" ? [tokens] : tokens;
    return this.#utf8.decode(decodeBytes(ids), { stream: true });
  }

  /**
   * Ends the stream: returns what is held back, with U+FFFD for an incomplete character, and resets.
   *
   * @returns The remaining text.
   */
  flush(): string {
    return this.#utf8.decode();
  }
}

/**
 * The bytes of llm.c's `gpt2_tokenizer.bin`: a 256-int32 little-endian header (magic 20240328, version 2,
 * vocab size 50257, EOT id 50256), then for each token id in order one uint8 length and the token's raw bytes.
 *
 * @returns The file contents.
 * @example
 * ```ts
 * import { llmcTokenizerBytes } from "./tokenizer.ts";
 * const bin = llmcTokenizerBytes();
 * console.log(new DataView(bin.buffer).getInt32(0, true)); // 20240328
 * ```
 */
export function llmcTokenizerBytes(): Uint8Array {
  const { pool, offset, length } = bpeTables();
  let size = 256 * 4;
  for (let id = 0; id < offset.length; id++) size += 1 + length[id];
  const out = new Uint8Array(size);
  const header = new DataView(out.buffer, 0, 256 * 4);
  header.setInt32(0, LLMC_TOKENIZER_MAGIC, true);
  header.setInt32(4, LLMC_TOKENIZER_VERSION, true);
  header.setInt32(8, offset.length, true);
  header.setInt32(12, GPT2_EOT, true);
  let at = 256 * 4;
  for (let id = 0; id < offset.length; id++) {
    out[at++] = length[id]; // every GPT-2 token is at most 128 bytes, so it fits the length byte
    out.set(pool.subarray(offset[id], offset[id] + length[id]), at);
    at += length[id];
  }
  return out;
}

/**
 * Writes llm.c's `gpt2_tokenizer.bin` (see {@linkcode llmcTokenizerBytes}) atomically.
 *
 * @param path Output file, usually `<out>/gpt2_tokenizer.bin`.
 * @example
 * ```ts
 * import { writeLlmcTokenizer } from "./tokenizer.ts";
 * const path = (await Deno.makeTempDir()) + "/gpt2_tokenizer.bin";
 * await writeLlmcTokenizer(path);
 * ```
 */
export async function writeLlmcTokenizer(path: string): Promise<void> {
  await writeFileAtomic(path, llmcTokenizerBytes());
}
