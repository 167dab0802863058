/**
 * A small pool of tokenizing Workers for the dataset prepro commands: `tokenize(texts)` queues a job and resolves
 * with its tokens; jobs run on the first idle Worker. Callers bound how many jobs they keep in flight and consume
 * the results in order. Private to `prepro/`.
 *
 * @module
 */
import { TOKEN_WORKER_NAME, type TokenJob, type TokenReply } from "./_token_worker.ts";

interface Pending {
  job: TokenJob;
  resolve: (tokens: Uint16Array) => void;
  reject: (err: Error) => void;
}

/** Workers that tokenize lists of documents (see the module doc). */
export class TokenPool {
  #workers: Worker[] = [];
  #idle: Worker[] = [];
  #queue: Pending[] = [];
  #running = new Map<Worker, Pending>();
  #nextId = 0;
  #failed: Error | undefined;
  #size: number;

  /**
   * Starts the Workers (they load the tokenizer on their first job).
   *
   * @param workers How many; default `navigator.hardwareConcurrency`.
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
   * Queues documents for tokenizing.
   *
   * @param texts The documents.
   * @param strip Strip each with Python's `str.strip()` first.
   * @returns EOT + tokens of each document, in order.
   */
  tokenize(texts: string[], strip: boolean): Promise<Uint16Array> {
    if (this.#failed) return Promise.reject(this.#failed);
    return new Promise((resolve, reject) => {
      this.#queue.push({ job: { id: this.#nextId++, texts, strip }, resolve, reject });
      this.#pump();
    });
  }

  /** Stops every Worker; pending jobs are rejected. */
  close(): void {
    this.#fail(new Error("The token pool was closed"));
    for (const w of this.#workers) w.terminate();
    this.#workers = [];
    this.#idle = [];
  }

  #pump(): void {
    while (this.#idle.length > 0 && this.#queue.length > 0) {
      const w = this.#idle.pop()!;
      const p = this.#queue.shift()!;
      this.#running.set(w, p);
      w.postMessage(p.job);
    }
  }

  #done(w: Worker, reply: TokenReply): void {
    const p = this.#running.get(w);
    this.#running.delete(w);
    this.#idle.push(w);
    if (p) {
      if ("error" in reply) p.reject(new Error(`Tokenizing failed: ${reply.error}`));
      else p.resolve(reply.tokens);
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
