/**
 * The tokenizing Worker's side of {@linkcode TokenPool} (`_token_pool.ts`): a job names its input (a TinyStories
 * shard's bytes, a run of JSON Lines as bytes, a Parquet row group by file and index, or plain texts), and the
 * Worker decodes, checks and tokenizes it and answers with the tokens, so the main thread only streams bytes and
 * writes shards. The pool starts its Workers on `_token_pool.ts` itself, which imports this module; evaluated in a
 * Worker named {@linkcode TOKEN_WORKER_NAME}, this module installs the message handler. (As with the CPU kernels,
 * this keeps one code path for a checkout, a URL import, the single-file bundle and `deno compile`: no second file
 * to ship or `--include`.) Private to `prepro/`.
 *
 * @module
 */
import { GPT2_EOT } from "../model/config.ts";
import { UserError } from "../util/errors.ts";
import { bpeTables, encodeOrdinaryTo, TokenArray } from "./_bpe.ts";
import { shuffledStories } from "./_dataset.ts";
import { jsonlChunkTexts } from "./_jsonl.ts";
import type { ParquetTextFile } from "./_parquet.ts";
import { pythonStrip } from "./_python.ts";
import { llmcTokenizerBytes } from "./tokenizer.ts";

/** The `name` of tokenizing Workers; a Worker of another name is left alone. */
export const TOKEN_WORKER_NAME = "llmts-prepro-tokens";

/** What one job tokenizes; every kind gives EOT + tokens for each of its documents, in order. */
export type TokenTask =
  /** Documents as strings, stripped with Python's `str.strip()` first when `strip` is set. */
  | { kind: "texts"; texts: string[]; strip: boolean }
  /** A TinyStories `*.json` shard: parsed, its stories shuffled with `random.Random(seed)` and stripped. */
  | { kind: "stories"; label: string; bytes: Uint8Array; seed: number }
  /** Whole lines of a JSON Lines file; `firstLine` lines of the file come before them (for messages). */
  | { kind: "jsonl"; path: string; bytes: Uint8Array; firstLine: number }
  /** One row group's `text` column, read by the Worker from the file; `firstRow` is its first row's number. */
  | { kind: "parquet"; path: string; rowGroup: number; firstRow: number };

/** A task with the pool's job number, echoed in the reply; `tokenizer` asks for llm.c's `gpt2_tokenizer.bin`. */
export type TokenJob = (TokenTask | { kind: "tokenizer" }) & { id: number };

/** The tokens of a job and how many documents they hold. */
export interface TokenResult {
  /** EOT + tokens of each document, in order. */
  tokens: Uint16Array<ArrayBuffer>;
  /** Documents tokenized. */
  documents: number;
}

/**
 * A Worker's answer: the result of a job (`bytes` for the tokenizer file), or why it failed (`user`: a bad-input
 * message, shown as it is).
 */
export type TokenReply =
  | ({ id: number } & TokenResult)
  | { id: number; bytes: Uint8Array<ArrayBuffer> }
  | { id: number; error: string; user: boolean };

/**
 * Tokenizes documents the way llm.c's prepro scripts do: for each, EOT (50256) and then its ordinary-text tokens
 * (a literal `<|endoftext|>` inside a document is text).
 *
 * @param texts The documents.
 * @param strip Apply Python's `str.strip()` to each first.
 * @returns All tokens, in document order.
 * @example
 * ```ts
 * import { tokenizeTexts } from "./_token_worker.ts";
 * console.log(tokenizeTexts([" Hi\u001f", "Bye"], true)); // Uint16Array(4) [50256, 17250, 50256, 3886]
 * ```
 */
export function tokenizeTexts(texts: string[], strip: boolean): Uint16Array<ArrayBuffer> {
  const out = new TokenArray();
  for (const text of texts) {
    out.push(GPT2_EOT);
    encodeOrdinaryTo(strip ? pythonStrip(text) : text, out);
  }
  return out.toUint16Array();
}

/** Open Parquet files of this Worker, by path; the oldest is closed when a third is opened. */
const parquetFiles = new Map<string, Promise<ParquetTextFile>>();

function parquetFile(path: string): Promise<ParquetTextFile> {
  let pf = parquetFiles.get(path);
  if (pf === undefined) {
    if (parquetFiles.size >= 2) {
      const [oldest, file] = parquetFiles.entries().next().value!;
      parquetFiles.delete(oldest);
      file.then((f) => f.close(), () => {});
    }
    // Loaded on the first Parquet job: the Parquet reader's npm packages are fetched only by those who read Parquet
    // (mod.ts, imported from a URL, reaches this Worker through the TinyStories prepro).
    pf = import("./_parquet.ts").then((m) => m.openParquetText(path));
    parquetFiles.set(path, pf);
  }
  return pf;
}

/**
 * Runs one task in this thread: decodes its input, then tokenizes. Bad input throws the UserError that names the
 * file and the line, row or element.
 *
 * @param task What to tokenize.
 * @returns The tokens and the document count.
 */
export async function runTokenTask(task: TokenTask): Promise<TokenResult> {
  let texts: string[];
  let strip = false;
  switch (task.kind) {
    case "texts":
      texts = task.texts;
      strip = task.strip;
      break;
    case "stories":
      texts = shuffledStories(task.bytes, task.label, task.seed);
      strip = true;
      break;
    case "jsonl":
      texts = jsonlChunkTexts(task.bytes, task.path, task.firstLine);
      break;
    case "parquet":
      texts = await (await import("./_parquet.ts")).rowGroupTexts(
        await parquetFile(task.path),
        task.rowGroup,
        task.firstRow,
      );
      break;
  }
  return { tokens: tokenizeTexts(texts, strip), documents: texts.length };
}

interface WorkerScope {
  name: string;
  onmessage: ((e: MessageEvent<TokenJob>) => void) | null;
  postMessage(message: unknown, transfer?: Transferable[]): void;
}

function inTokenWorker(): boolean {
  const scope = (globalThis as { WorkerGlobalScope?: abstract new () => unknown }).WorkerGlobalScope;
  return scope !== undefined && globalThis instanceof scope &&
    (globalThis as unknown as WorkerScope).name === TOKEN_WORKER_NAME;
}

if (inTokenWorker()) {
  const self = globalThis as unknown as WorkerScope;
  // Jobs run one at a time, in the order they came (a Parquet job awaits file reads).
  let queue: Promise<void> = Promise.resolve();
  self.onmessage = (e) => {
    const job = e.data;
    queue = queue.then(async () => {
      try {
        if (job.kind === "tokenizer") {
          const bytes = llmcTokenizerBytes() as Uint8Array<ArrayBuffer>;
          self.postMessage({ id: job.id, bytes } satisfies TokenReply, [bytes.buffer]);
          return;
        }
        const { tokens, documents } = await runTokenTask(job);
        self.postMessage({ id: job.id, tokens, documents } satisfies TokenReply, [tokens.buffer]);
      } catch (err) {
        const error = err instanceof Error ? err.message : String(err);
        self.postMessage({ id: job.id, error, user: err instanceof UserError } satisfies TokenReply);
      }
    });
  };
  bpeTables(); // parsed while the main thread is still reading its first input
}
