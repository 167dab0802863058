/**
 * What the streaming dataset commands (`prepro tinystories`, `prepro fineweb`) share: their result, the in-order
 * queue of tokenizing jobs that bounds how much is in flight, strict UTF-8 decoding that names the input, and the
 * decoding of a TinyStories shard (which the tokenizing Workers run). Private to `prepro/`.
 *
 * @module
 */
import { UserError } from "../util/errors.ts";
import { PythonRandom } from "./_python.ts";
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
  #consumeFailed = false;
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

  /**
   * After a failure outside the jobs (say, a corrupt stream), the error of the oldest queued job that failed, if
   * any: it concerns earlier input, so it is the one to report. Undefined when none did, or when the failure was
   * a job's own (reported in order, so nothing queued came before it). Results are not consumed.
   *
   * @returns That job's error, or undefined.
   */
  async firstError(): Promise<unknown> {
    if (this.#consumeFailed) return undefined;
    for (const { settled } of this.#queue) {
      const r = await settled;
      if (!r.ok) return r.error;
    }
    return undefined;
  }

  /** Forgets the queued jobs (after a failure); their results are dropped. */
  clear(): void {
    this.#queue = [];
  }

  async #next(): Promise<void> {
    const { settled, use } = this.#queue.shift()!;
    const r = await settled;
    try {
      if (!r.ok) throw r.error;
      await use(r.value);
    } catch (err) {
      this.#consumeFailed = true;
      throw err;
    }
  }
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
    throw new UserError(`${where}: not valid UTF-8 text (line ${firstBadLine(bytes)})`);
  }
}

/**
 * The number (from 1) of the first line of `bytes` that is not valid UTF-8 (for error messages).
 *
 * @param bytes Text that failed to decode.
 * @returns The line number.
 */
export function firstBadLine(bytes: Uint8Array): number {
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
  return line;
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

/**
 * Decodes one TinyStories shard (a JSON array of objects with a `story` string), checks every element, and
 * shuffles the stories as `random.Random(seed).shuffle(data)` would shuffle the elements.
 *
 * @param bytes The shard's file.
 * @param label The file, as messages name it (`dir/data00.json` or `archive.tar.gz:data00.json`).
 * @param seed The shuffle's seed.
 * @returns The stories, shuffled (not yet stripped).
 */
export function shuffledStories(bytes: Uint8Array, label: string, seed: number): string[] {
  let data: unknown;
  try {
    data = JSON.parse(decodeUtf8(bytes, label));
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw new UserError(`${label}: invalid JSON (${(err as Error).message})`);
  }
  if (!Array.isArray(data)) {
    throw new UserError(`${label}: expected a JSON array of {"story": ...} objects, got ${jsonType(data)}`);
  }
  const stories: string[] = new Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const story = (data[i] as { story?: unknown } | null)?.story;
    if (typeof story !== "string") {
      const what = data[i] === null || typeof data[i] !== "object" || Array.isArray(data[i])
        ? `is ${jsonType(data[i])}, not an object`
        : story === undefined
        ? `has no "story" field`
        : `has a "story" that is ${jsonType(story)}, not a string`;
      throw new UserError(`${label}: element ${i} of the array ${what}`);
    }
    stories[i] = story;
  }
  new PythonRandom(seed).shuffle(stories);
  return stories;
}
