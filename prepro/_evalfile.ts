/**
 * llm.c's eval file (multiple-choice evals such as HellaSwag; written by `write_evalfile` in llm.c's
 * `dev/data/data_common.py`, read by its `EvalLoader`). Private to `prepro/`; `hellaswag.ts` exports it.
 *
 * Layout, little-endian: a header of 256 int32 `[20240522, 1, examples, longest example in bytes, 0…]`, then one
 * uint16 stream per example:
 *
 * ```
 * 65535 (start of example) · bytes of this example · its index · label · completions (4)
 * · context length · context tokens · for each completion: its length · its tokens
 * ```
 *
 * "Bytes of this example" counts the whole stream of the example, its first two fields included (2 bytes a field).
 *
 * @module
 */
import { UserError } from "../util/errors.ts";
import { readFileOrFail } from "../util/fs.ts";

/** Magic number of an llm.c eval file (header int 0). */
export const EVALFILE_MAGIC = 20240522;
/** The eval file version llm.c writes and reads (header int 1). */
export const EVALFILE_VERSION = 1;
/** Completions per example: llm.c's writer and loader both require 4 (HellaSwag's endings). */
export const EVALFILE_COMPLETIONS = 4;

const HEADER_BYTES = 256 * 4;
const START_OF_EXAMPLE = 0xffff;
/** Fields before the context tokens: start, bytes, index, label, completions, context length. */
const EXAMPLE_FIELDS = 6;

/** One multiple-choice example: a context shared by its completions, and which completion is right. */
export interface EvalExample {
  /** Index of the correct completion, in [0, 4). */
  label: number;
  /** The context's tokens. */
  context: number[];
  /** The tokens of each of the 4 completions (for HellaSwag: the ending with its leading space). */
  endings: number[][];
}

/**
 * Serializes examples into llm.c's eval file format (the example index is its position in `examples`).
 *
 * @param examples The examples, each with 4 endings and a label in [0, 4).
 * @returns The file's bytes: header, then every example's uint16 stream.
 * @throws RangeError for more than 65,535 examples, an example of 65,536 bytes or more, a token that does not
 *   fit below 65535, another number of endings than 4 or a label out of range.
 * @example
 * ```ts
 * import { encodeEvalFile } from "./_evalfile.ts";
 * const bytes = encodeEvalFile([{ label: 1, context: [10, 11], endings: [[1], [2, 3], [4], [5]] }]);
 * // header, then 6 fields + 2 context tokens + 4 lengths + 5 ending tokens = 17 uint16
 * if (bytes.length !== 1024 + 17 * 2) throw new Error(String(bytes.length));
 * ```
 */
export function encodeEvalFile(examples: readonly EvalExample[]): Uint8Array {
  if (examples.length >= 0x10000) {
    throw new RangeError(`an eval file holds at most 65535 examples, not ${examples.length}`);
  }
  const sizes = examples.map(exampleFields);
  const total = sizes.reduce((a, b) => a + b, 0);
  const bytes = new Uint8Array(HEADER_BYTES + 2 * total);
  const view = new DataView(bytes.buffer);
  let at = HEADER_BYTES;
  const put = (value: number) => {
    view.setUint16(at, value, true);
    at += 2;
  };
  const putTokens = (tokens: readonly number[], what: string) => {
    put(tokens.length);
    for (const t of tokens) {
      if (!(Number.isInteger(t) && t >= 0 && t < START_OF_EXAMPLE)) throw new RangeError(`${what}: bad token ${t}`);
      put(t);
    }
  };
  let longest = 0;
  examples.forEach((example, i) => {
    const { label, context, endings } = example;
    if (endings.length !== EVALFILE_COMPLETIONS) {
      throw new RangeError(`example ${i} has ${endings.length} endings; the eval format has ${EVALFILE_COMPLETIONS}`);
    }
    if (!(Number.isInteger(label) && label >= 0 && label < EVALFILE_COMPLETIONS)) {
      throw new RangeError(`example ${i}: label ${label} is not in [0, ${EVALFILE_COMPLETIONS})`);
    }
    const exampleBytes = 2 * sizes[i];
    if (exampleBytes >= 0x10000) throw new RangeError(`example ${i} takes ${exampleBytes} bytes; the limit is 65535`);
    longest = Math.max(longest, exampleBytes);
    put(START_OF_EXAMPLE);
    put(exampleBytes);
    put(i);
    put(label);
    put(endings.length);
    putTokens(context, `example ${i} context`);
    endings.forEach((ending, c) => putTokens(ending, `example ${i} ending ${c}`));
  });
  view.setInt32(0, EVALFILE_MAGIC, true);
  view.setInt32(4, EVALFILE_VERSION, true);
  view.setInt32(8, examples.length, true);
  view.setInt32(12, longest, true);
  return bytes;
}

/** uint16 fields of one example's stream. */
function exampleFields(e: EvalExample): number {
  return EXAMPLE_FIELDS + e.context.length + e.endings.reduce((n, ending) => n + 1 + ending.length, 0);
}

/**
 * Parses an llm.c eval file, checking everything llm.c's loader asserts (and that the file holds nothing else).
 *
 * @param bytes The file's contents.
 * @param path Names the file in error messages.
 * @returns The examples in file order.
 * @throws UserError naming the file and the problem: a bad magic number or version, a truncated file, an example
 *   whose fields disagree with its size, another number of endings than 4, a label out of range, an empty ending.
 * @example
 * ```ts
 * import { encodeEvalFile, parseEvalFile } from "./_evalfile.ts";
 * const examples = [{ label: 3, context: [7], endings: [[1], [2], [3], [4, 5]] }];
 * const back = parseEvalFile(encodeEvalFile(examples), "x.bin");
 * if (JSON.stringify(back) !== JSON.stringify(examples)) throw new Error("round trip");
 * ```
 */
export function parseEvalFile(bytes: Uint8Array, path: string): EvalExample[] {
  const fail = (what: string): never => {
    throw new UserError(`${path}: ${what}`);
  };
  if (bytes.length < HEADER_BYTES) {
    fail(`truncated: ${bytes.length} bytes, shorter than the 1024-byte header of an llm.c eval file`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getInt32(0, true), version = view.getInt32(4, true);
  if (magic !== EVALFILE_MAGIC) {
    fail(`bad magic number ${magic}, expected ${EVALFILE_MAGIC} (an llm.c eval file, from 'gpt2 prepro hellaswag')`);
  }
  if (version !== EVALFILE_VERSION) fail(`unsupported eval file version ${version}, expected ${EVALFILE_VERSION}`);
  const count = view.getInt32(8, true), longest = view.getInt32(12, true);
  if (count < 0) fail(`bad example count ${count} in the header`);
  if ((bytes.length - HEADER_BYTES) % 2 !== 0) fail(`truncated: ${bytes.length} bytes, an odd number`);
  const end = bytes.length;
  const examples: EvalExample[] = [];
  let at = HEADER_BYTES;
  for (let i = 0; i < count; i++) {
    const where = `example ${i} (byte ${at})`;
    const truncated = () => fail(`truncated: ${where} runs past the end of the file (${end} bytes; ${count} examples)`);
    if (at + 6 > end) truncated();
    const word = (k: number) => view.getUint16(at + 2 * k, true);
    if (word(0) !== START_OF_EXAMPLE) fail(`${where}: expected the start-of-example marker 65535, got ${word(0)}`);
    const size = word(1);
    if (word(2) !== i % 0x10000) fail(`${where}: its index field is ${word(2)}, expected ${i}`);
    if (size > longest) fail(`${where} takes ${size} bytes, more than the header's longest example (${longest})`);
    if (at + size > end) truncated();
    if (size < 2 * EXAMPLE_FIELDS) fail(`${where}: its size field ${size} is too small for an example`);
    const label = word(3), completions = word(4);
    if (completions !== EVALFILE_COMPLETIONS) {
      fail(`${where} has ${completions} endings; HellaSwag and llm.c's eval format have ${EVALFILE_COMPLETIONS}`);
    }
    if (label >= completions) fail(`${where}: label ${label} is out of range [0, ${completions})`);
    let k = 5;
    const fields = size / 2;
    const tokens = (what: string, allowEmpty: boolean): number[] => {
      if (k >= fields) fail(`${where}: its ${what} runs past the example's ${size} bytes`);
      const n = word(k++);
      if (n === 0 && !allowEmpty) fail(`${where}: its ${what} has no tokens`);
      if (k + n > fields) fail(`${where}: its ${what} (${n} tokens) runs past the example's ${size} bytes`);
      const out = Array.from({ length: n }, (_, j) => word(k + j));
      k += n;
      return out;
    };
    const context = tokens("context", true);
    const endings = Array.from({ length: completions }, (_, c) => tokens(`ending ${c}`, false));
    if (k !== fields) fail(`${where}: its size field says ${size} bytes, its contents take ${2 * k}`);
    examples.push({ label, context, endings });
    at += size;
  }
  if (at !== end) fail(`${end - at} bytes after its ${count} examples (the header says ${count})`);
  return examples;
}

/**
 * Reads and parses an llm.c eval file.
 *
 * @param path The file, e.g. `data/hellaswag/hellaswag_val.bin`.
 * @returns Its examples.
 * @throws UserError when the file cannot be read or is not a valid eval file.
 * @example
 * ```ts
 * import { encodeEvalFile, readEvalFile } from "./_evalfile.ts";
 * const path = await Deno.makeTempFile();
 * await Deno.writeFile(path, encodeEvalFile([{ label: 0, context: [1], endings: [[2], [3], [4], [5]] }]));
 * if ((await readEvalFile(path)).length !== 1) throw new Error("one example");
 * ```
 */
export async function readEvalFile(path: string): Promise<EvalExample[]> {
  const bytes = await readFileOrFail(path, "eval file");
  return parseEvalFile(bytes, path);
}
