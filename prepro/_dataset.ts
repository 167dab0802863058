/**
 * What the streaming dataset commands (`prepro tinystories`, `prepro fineweb`) share: their result, the in-order
 * queue of tokenizing jobs that bounds how much is in flight, and strict UTF-8 decoding that names the input.
 * Private to `prepro/`.
 *
 * @module
 */
import { UserError } from "../util/errors.ts";
import type { PreproFile } from "./text.ts";

/** One token shard a dataset command wrote. */
export interface DatasetShard extends PreproFile {
  /** "val" or "train". */
  split: "val" | "train";
}

/** What `prepro tinystories` or `prepro fineweb` did; the CLI prints it, or prints it as JSON with `--json`. */
export interface DatasetResult {
  /** "tinystories" or "fineweb". */
  dataset: string;
  /** The input files (the archive, the shard directory's files, or the Parquet / JSONL files). */
  sources: string[];
  /** Bytes read from the inputs (compressed size for compressed files). */
  bytes: number;
  /** Documents (stories) tokenized. */
  documents: number;
  /** All tokens written, EOTs included. */
  tokens: number;
  /** The shards, in order: val first. */
  shards: DatasetShard[];
  /** llm.c's `gpt2_tokenizer.bin`. */
  tokenizer: PreproFile;
  /** Tokenizing Workers used. */
  workers: number;
  /** Wall time of the whole run. */
  seconds: number;
}

/**
 * Jobs whose results must be consumed in the order the jobs were queued, with at most `limit` waiting: `add`
 * waits for the oldest job (and hands its result to its consumer) whenever the queue is full. A job that fails is
 * reported when its turn comes, never as an unhandled rejection.
 */
export class OrderedJobs<T> {
  #limit: number;
  #queue: { settled: Promise<{ ok: true; value: T } | { ok: false; error: unknown }>; use: (v: T) => unknown }[] = [];

  /** @param limit Jobs allowed in flight before `add` waits. */
  constructor(limit: number) {
    this.#limit = Math.max(1, limit);
  }

  /**
   * Queues a job; waits while more than `limit` are in flight.
   *
   * @param job The running job.
   * @param use What to do with its result, in queue order (may be async).
   */
  async add(job: Promise<T>, use: (value: T) => unknown): Promise<void> {
    const settled = job.then((value) => ({ ok: true as const, value }), (error) => ({ ok: false as const, error }));
    this.#queue.push({ settled, use });
    while (this.#queue.length > this.#limit) await this.#next();
  }

  /** Waits for every queued job and consumes its result. */
  async drain(): Promise<void> {
    while (this.#queue.length > 0) await this.#next();
  }

  /** Forgets the queued jobs (after a failure); their results are dropped. */
  clear(): void {
    this.#queue = [];
  }

  async #next(): Promise<void> {
    const { settled, use } = this.#queue.shift()!;
    const r = await settled;
    if (!r.ok) throw r.error;
    await use(r.value);
  }
}

/** Documents of one tokenizing job are cut at about this many UTF-16 code units. */
export const JOB_CHARS = 1 << 20;

/**
 * Cuts `texts` into runs of consecutive texts of about `maxChars` code units each (at least one text per run).
 *
 * @param texts The documents.
 * @param maxChars Where a run is cut.
 * @returns The runs, in order.
 */
export function* textChunks(texts: string[], maxChars: number): Generator<string[]> {
  let begin = 0, chars = 0;
  for (let i = 0; i < texts.length; i++) {
    chars += texts[i].length;
    if (chars >= maxChars) {
      yield texts.slice(begin, i + 1);
      begin = i + 1;
      chars = 0;
    }
  }
  if (begin < texts.length) yield texts.slice(begin);
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Decodes UTF-8 strictly (a BOM is kept, as Python keeps it); invalid bytes are a UserError naming `where` and,
 * when the bytes have several lines, the first line with an invalid sequence.
 *
 * @param bytes The bytes.
 * @param where The file (and what in it), for the message.
 * @returns The text.
 */
export function decodeUtf8(bytes: Uint8Array, where: string): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    let line = 1;
    for (let start = 0; start <= bytes.length; line++) {
      let end = bytes.indexOf(0x0a, start);
      if (end < 0) end = bytes.length;
      try {
        strictUtf8.decode(bytes.subarray(start, end));
      } catch {
        break;
      }
      start = end + 1;
    }
    throw new UserError(`${where}: not valid UTF-8 text (line ${line})`);
  }
}

/**
 * The name of a JavaScript value's type in the words of a JSON reader: "null", "array", "object", "number"...
 *
 * @param v Any parsed JSON value.
 * @returns Its JSON type.
 */
export function jsonType(v: unknown): string {
  return v === null ? "null" : Array.isArray(v) ? "array" : typeof v;
}
