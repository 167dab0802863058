/**
 * HellaSwag (Zellers et al., 2019) → llm.c's eval file, byte-identical to the `hellaswag_val.bin` that llm.c's
 * `dev/data/hellaswag.py` writes: for each line of the jsonl, in order, the context tokens are the GPT-2 encoding
 * of its `ctx` field as it stands, each of its 4 `endings` is encoded with a space in front (`" " + ending`, so
 * its first word gets the token it has after a space), and its `label` is kept. The file format is in
 * `_evalfile.ts`; `train/hellaswag.ts` evaluates a model on it.
 *
 * @module
 */
import { join } from "node:path";
import { UserError } from "../util/errors.ts";
import { writeFileAtomic } from "../util/fs.ts";
import { decodeText, readSource, sha256Hex } from "./_source.ts";
import { encodeEvalFile, type EvalExample, EVALFILE_COMPLETIONS } from "./_evalfile.ts";
import { encode } from "./tokenizer.ts";

export {
  encodeEvalFile,
  type EvalExample,
  EVALFILE_COMPLETIONS,
  EVALFILE_MAGIC,
  EVALFILE_VERSION,
  parseEvalFile,
  readEvalFile,
} from "./_evalfile.ts";

/** Where llm.c's script downloads the validation split (10,042 examples). */
export const HELLASWAG_VAL_URL = "https://raw.githubusercontent.com/rowanz/hellaswag/master/data/hellaswag_val.jsonl";
/** Examples in HellaSwag's validation split. */
export const HELLASWAG_VAL_EXAMPLES = 10_042;
/** Default output directory and file name, the file `gpt2 eval hellaswag` and `train --hellaswag-every` read. */
export const HELLASWAG_VAL_FILE: string = join("data", "hellaswag", "hellaswag_val.bin");

/** The fields of a HellaSwag jsonl line that the eval uses (the others, `ind`, `ctx_a`, … are ignored). */
export interface HellaswagItem {
  /** The full context (`ctx_a` + " " + `ctx_b` when `ctx_b` is not empty; llm.c takes `ctx` as it is). */
  ctx: string;
  /** The 4 candidate endings. */
  endings: string[];
  /** Index of the right ending. */
  label: number;
}

/**
 * Tokenizes one HellaSwag item as llm.c's `render_example` does: `encode(ctx)`, and `encode(" " + ending)` for
 * each ending.
 *
 * @param item The item's `ctx`, `endings` and `label`.
 * @returns The example for the eval file.
 * @example
 * ```ts
 * import { renderHellaswagExample } from "./hellaswag.ts";
 * const e = renderHellaswagExample({ ctx: "Hello", endings: ["world", "a", "b", "c"], label: 0 });
 * if (e.context.join() !== "15496" || e.endings[0].join() !== "995") throw new Error("' world' is one token");
 * ```
 */
export function renderHellaswagExample(item: HellaswagItem): EvalExample {
  return { label: item.label, context: encode(item.ctx), endings: item.endings.map((e) => encode(" " + e)) };
}

/**
 * Parses HellaSwag's jsonl: one JSON object per line (blank lines are skipped), each with a string `ctx`, an
 * array of 4 string `endings` and an integer `label` in [0, 4).
 *
 * @param text The file's text (universal newlines already applied).
 * @param source Names the file in error messages.
 * @returns The items in file order.
 * @throws UserError naming the file and line of the first bad line.
 * @example
 * ```ts
 * import { parseHellaswagJsonl } from "./hellaswag.ts";
 * const items = parseHellaswagJsonl('{"ctx": "A", "endings": ["b", "c", "d", "e"], "label": 2}\n', "x.jsonl");
 * if (items[0].label !== 2) throw new Error("label");
 * ```
 */
export function parseHellaswagJsonl(text: string, source: string): HellaswagItem[] {
  const items: HellaswagItem[] = [];
  text.split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    const fail = (what: string): never => {
      throw new UserError(`${source}: line ${i + 1}: ${what}`);
    };
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      fail(`not JSON (${(err as Error).message.split("\n")[0]})`);
    }
    const item = value as Partial<Record<keyof HellaswagItem, unknown>> | null;
    if (typeof item !== "object" || item === null || Array.isArray(item)) fail("not a JSON object");
    const { ctx, endings, label } = item!;
    if (typeof ctx !== "string") fail(`'ctx' must be a string, got ${JSON.stringify(ctx)}`);
    if (!Array.isArray(endings) || endings.length !== EVALFILE_COMPLETIONS) {
      fail(`'endings' must be a list of ${EVALFILE_COMPLETIONS} strings`);
    }
    if ((endings as unknown[]).some((e) => typeof e !== "string")) fail("'endings' holds something not a string");
    if (!(Number.isInteger(label) && (label as number) >= 0 && (label as number) < EVALFILE_COMPLETIONS)) {
      fail(`'label' must be an integer in [0, ${EVALFILE_COMPLETIONS}), got ${JSON.stringify(label)}`);
    }
    items.push({ ctx: ctx as string, endings: endings as string[], label: label as number });
  });
  return items;
}

/** Options of {@linkcode preproHellaswag}. */
export interface PreproHellaswagOptions {
  /** Local path or URL of `hellaswag_val.jsonl`. Default: download {@linkcode HELLASWAG_VAL_URL}. */
  from?: string;
  /** Output directory. Default `data/hellaswag/`. */
  outDir?: string;
}

/** What {@linkcode preproHellaswag} wrote; `gpt2 prepro hellaswag --json` prints it. */
export interface PreproHellaswagResult {
  /** "hellaswag". */
  dataset: string;
  /** The input path or URL. */
  source: string;
  /** Size of the input in bytes. */
  bytes: number;
  /** SHA-256 of the input, lower-case hex. */
  sha256: string;
  /** Examples written. */
  examples: number;
  /** Tokens in all contexts and endings. */
  tokens: number;
  /** The largest example's size in the file (header int 3). */
  longestExampleBytes: number;
  /** The eval file and its size in bytes. */
  file: { path: string; bytes: number };
  /** Wall time of the whole run. */
  seconds: number;
}

/**
 * Reads (or downloads) HellaSwag's validation jsonl and writes `hellaswag_val.bin` (llm.c's eval format) into the
 * output directory, atomically.
 *
 * @param options Source and output directory.
 * @returns What was written.
 * @throws UserError for a failed download or read, a bad jsonl line, or a failed write.
 * @example
 * ```ts
 * import { preproHellaswag } from "./hellaswag.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/val.jsonl`, '{"ctx": "A man", "endings": ["sits.", "runs.", "eats.", "is."], "label": 1}\n');
 * const r = await preproHellaswag({ from: `${dir}/val.jsonl`, outDir: dir });
 * if (r.examples !== 1 || r.file.path !== `${dir}/hellaswag_val.bin`) throw new Error(JSON.stringify(r));
 * ```
 */
export async function preproHellaswag(options: PreproHellaswagOptions = {}): Promise<PreproHellaswagResult> {
  const start = performance.now();
  const source = options.from ?? HELLASWAG_VAL_URL;
  const input = await readSource(source, "download hellaswag_val.jsonl yourself and pass it with --from PATH");
  const items = parseHellaswagJsonl(decodeText(source, input), source);
  if (items.length === 0) throw new UserError(`${source}: no examples in it`);
  const examples = items.map(renderHellaswagExample);
  let bytes: Uint8Array;
  try {
    bytes = encodeEvalFile(examples);
  } catch (err) {
    if (err instanceof RangeError) throw new UserError(`${source}: ${err.message}`);
    throw err;
  }
  const path = join(options.outDir ?? join("data", "hellaswag"), "hellaswag_val.bin");
  await writeFileAtomic(path, bytes);
  const tokens = examples.reduce((n, e) => e.endings.reduce((m, end) => m + end.length, n + e.context.length), 0);
  return {
    dataset: "hellaswag",
    source,
    bytes: input.length,
    sha256: await sha256Hex(input),
    examples: examples.length,
    tokens,
    longestExampleBytes: new DataView(bytes.buffer).getInt32(12, true),
    file: { path, bytes: bytes.length },
    seconds: Math.round(performance.now() - start) / 1000,
  };
}

/**
 * The lines `gpt2 prepro hellaswag` prints for a result.
 *
 * @param r What {@linkcode preproHellaswag} returned.
 * @returns Two lines of text.
 * @example
 * ```ts
 * import { formatPreproHellaswag } from "./hellaswag.ts";
 * const text = formatPreproHellaswag({ dataset: "hellaswag", source: "v.jsonl", bytes: 10, sha256: "ab".repeat(32),
 *   examples: 2, tokens: 40, longestExampleBytes: 60, file: { path: "h.bin", bytes: 1124 }, seconds: 0.1 });
 * if (!text.includes("2 examples")) throw new Error(text);
 * ```
 */
export function formatPreproHellaswag(r: PreproHellaswagResult): string {
  const n = (x: number) => x.toLocaleString("en-US");
  return [
    `${r.dataset}: ${n(r.examples)} examples, ${n(r.tokens)} tokens from ${r.source} (${n(r.bytes)} bytes, ` +
    `sha256 ${r.sha256.slice(0, 12)}…) in ${r.seconds.toFixed(2)} s`,
    `  ${r.file.path}  ${n(r.file.bytes)} bytes (llm.c eval file; longest example ${n(r.longestExampleBytes)} bytes)`,
  ].join("\n");
}
