/**
 * A small pool of tokenizing Workers for the dataset prepro commands: `run(task)` queues a job (a shard's bytes, a
 * run of JSON Lines, a Parquet row group, or plain texts; see `_token_worker.ts`) and resolves with its tokens;
 * jobs run on the first idle Worker, which also does the decoding, so the main thread is left with what must be
 * sequential. Input bytes are transferred to the Worker, not copied, and so are the tokens coming back. Callers
 * bound how many jobs they keep in flight and consume the results in order. Private to `prepro/`.
 *
 * @module
 */
import { UserError } from "../util/errors.ts";
import {
  TOKEN_WORKER_NAME,
  type TokenJob,
  type TokenReply,
  type TokenResult,
  type TokenTask,
} from "./_token_worker.ts";

export type { TokenResult, TokenTask } from "./_token_worker.ts";

interface Pending {
  job: TokenJob;
  resolve: (result: TokenResult | Uint8Array<ArrayBuffer>) => void;
  reject: (err: Error) => void;
}

/** Workers that decode and tokenize dataset inputs (see the module doc). */
export class TokenPool {
  #workers: Worker[] = [];
  #idle: Worker[] = [];
  #queue: Pending[] = [];
  #running = new Map<Worker, Pending>();
  #nextId = 0;
  #failed: Error | undefined;
  #size: number;

  /**
   * Starts the Workers (each parses the tokenizer's tables as it starts).
   *
   * @param workers How many; default `navigator.hardwareConcurrency`, which follows the process's CPU affinity
   *   (1 under `taskset -c 0`).
   */
  constructor(workers: number = navigator.hardwareConcurrency) {
    if (!Number.isInteger(workers) || workers < 1) throw new RangeError(`Worker count must be >= 1, got ${workers}`);
    this.#size = workers;
    for (let i = 0; i < workers; i++) {
      // Started on this module, which imports the Worker's side (see _token_worker.ts).
      const w = new Worker(import.meta.url, { type: "module", name: TOKEN_WORKER_NAME });
      w.onmessage = (e: MessageEvent<TokenReply>) => this.#done(w, e.data);
      w.onerror = (e) => {
        e.preventDefault();
        this.#fail(new Error(`A tokenizing worker failed: ${e.message}`));
      };
      this.#workers.push(w);
      this.#idle.push(w);
    }
  }

  /** Number of Workers started. */
  get size(): number {
    return this.#size;
  }

  /**
   * Queues a job. A task's `bytes` go to the Worker by transfer when they fill their buffer (copied
   * otherwise): the caller must not use them afterwards.
   *
   * @param task What to decode and tokenize.
   * @returns Its tokens (EOT + tokens of each document, in order) and document count. Bad input rejects with the
   *   Worker's UserError (naming the file and the line, row or element).
   */
  run(task: TokenTask): Promise<TokenResult> {
    return this.#enqueue<TokenResult>(task);
  }

  /**
   * Asks a Worker for llm.c's `gpt2_tokenizer.bin` (the Workers hold the tables it is made of), so that this
   * thread need not parse them.
   *
   * @returns The file's bytes (see `llmcTokenizerBytes` in `tokenizer.ts`).
   */
  llmcTokenizerBytes(): Promise<Uint8Array<ArrayBuffer>> {
    return this.#enqueue<Uint8Array<ArrayBuffer>>({ kind: "tokenizer" });
  }

  /**
   * Queues documents for tokenizing.
   *
   * @param texts The documents.
   * @param strip Strip each with Python's `str.strip()` first.
   * @returns EOT + tokens of each document, in order.
   */
  async tokenize(texts: string[], strip: boolean): Promise<Uint16Array> {
    return (await this.run({ kind: "texts", texts, strip })).tokens;
  }

  /**
   * Rejects the tokenizing jobs not yet started (after a failed pass whose results are no longer wanted); a
   * request for the tokenizer file stays queued.
   */
  dropQueued(): void {
    const err = new Error("The job was dropped");
    for (const p of this.#queue) if (p.job.kind !== "tokenizer") p.reject(err);
    this.#queue = this.#queue.filter((p) => p.job.kind === "tokenizer");
  }

  /** Stops every Worker; pending jobs are rejected. */
  close(): void {
    this.#fail(new Error("The token pool was closed"));
    for (const w of this.#workers) w.terminate();
    this.#workers = [];
    this.#idle = [];
  }

  #enqueue<T extends TokenResult | Uint8Array<ArrayBuffer>>(task: TokenTask | { kind: "tokenizer" }): Promise<T> {
    if (this.#failed) return Promise.reject(this.#failed);
    return new Promise<T>((resolve, reject) => {
      const job = { ...task, id: this.#nextId++ };
      this.#queue.push({ job, resolve: resolve as Pending["resolve"], reject });
      this.#pump();
    });
  }

  #pump(): void {
    while (this.#idle.length > 0 && this.#queue.length > 0) {
      const w = this.#idle.pop()!;
      const p = this.#queue.shift()!;
      this.#running.set(w, p);
      w.postMessage(p.job, "bytes" in p.job ? [transferable(p.job)] : []);
    }
  }

  #done(w: Worker, reply: TokenReply): void {
    const p = this.#running.get(w);
    this.#running.delete(w);
    this.#idle.push(w);
    if (p) {
      if ("error" in reply) {
        p.reject(reply.user ? new UserError(reply.error) : new Error(`Tokenizing failed: ${reply.error}`));
      } else if ("bytes" in reply) p.resolve(reply.bytes);
      else p.resolve({ tokens: reply.tokens, documents: reply.documents });
    }
    this.#pump();
  }

  #fail(err: Error): void {
    this.#failed ??= err;
    for (const p of [...this.#running.values(), ...this.#queue]) p.reject(err);
    this.#running.clear();
    this.#queue = [];
  }
}

/**
 * The buffer to transfer for a job's bytes: theirs when the bytes fill a plain ArrayBuffer, else that of a copy
 * (so a view into a larger buffer never detaches the rest of it).
 */
function transferable(job: { bytes: Uint8Array }): ArrayBuffer {
  const b = job.bytes;
  const whole = b.buffer instanceof ArrayBuffer && b.byteOffset === 0 && b.byteLength === b.buffer.byteLength;
  if (!whole) job.bytes = b.slice();
  return job.bytes.buffer as ArrayBuffer;
}
