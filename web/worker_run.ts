/// <reference lib="dom" />
/**
 * The page's multicore CPU backend. The WebAssembly SIMD kernels (`cpu/kernels.ts`) run a job on the calling thread
 * and the kernel Workers, then wait for the Workers with `Atomics.wait`, which a page's main thread may not call.
 * So on the CPU the whole run lives in a dedicated Worker (`RemoteRun` here is its stand-in on the page), and the
 * kernel Workers are started from there. Both Workers load the page's own bundle (`import.meta.url`, as
 * `cpu/kernels.ts` does): web/app.ts starts the page only on the main thread and `serveRunWorker` in a Worker named
 * `RUN_WORKER_NAME`.
 *
 * The messages: the page sends one request at a time (the page's model queue serializes them) — `create`, `step`,
 * `sample`, `read` — and the Worker answers each with one reply (`sample` first streams `text` pieces), or `error`.
 *
 * @module
 */
import type { ParameterTensors } from "../model/checkpoint.ts";
import type { LogEntry, PageRun, RunSettings, RunShards } from "./run.ts";
import { TrainingRun } from "./run.ts";
import type { SampleSettings } from "./sampling.ts";

/** The `name` of the Worker that holds a CPU run. */
export const RUN_WORKER_NAME = "llmts-page-run";

type Request =
  | { type: "create"; settings: RunSettings; shards: RunShards; threads: number }
  | { type: "step" }
  | { type: "sample"; settings: SampleSettings }
  | { type: "read" };

type Reply =
  | { type: "created"; device: string; T: number }
  | { type: "stepped"; entry: LogEntry; sample?: string }
  | { type: "text"; piece: string }
  | { type: "sampled"; tokens: number }
  | { type: "params"; params: ParameterTensors }
  | { type: "error"; message: string };

/** The parts of a Worker's global scope used here. */
interface WorkerScope {
  onmessage: ((e: MessageEvent<Request>) => void) | null;
  postMessage(message: Reply): void;
}

/** A CPU run in a Worker, on every core, driven from the page like a `TrainingRun`. */
export class RemoteRun implements PageRun {
  readonly device: string;
  readonly settings: RunSettings;
  readonly log: LogEntry[] = [];
  readonly T: number;
  readonly #worker: Worker;
  #onText: (piece: string) => void = () => {};

  private constructor(worker: Worker, settings: RunSettings, created: { device: string; T: number }) {
    this.#worker = worker;
    this.settings = settings;
    this.device = created.device;
    this.T = created.T;
  }

  /**
   * Starts the Worker and builds the run there (threads: one per core, the Worker's own included).
   *
   * @param settings The run's settings (`device` is the CPU's).
   * @param shards The token files.
   * @returns The run at step 0.
   */
  static async create(settings: RunSettings, shards: RunShards): Promise<RemoteRun> {
    const worker = new Worker(import.meta.url, { type: "module", name: RUN_WORKER_NAME });
    const threads = Math.max(1, navigator.hardwareConcurrency || 1);
    try {
      const reply = await call(worker, { type: "create", settings, shards, threads }, () => {});
      if (reply.type !== "created") throw new Error(`the CPU worker answered ${reply.type}`);
      return new RemoteRun(worker, settings, reply);
    } catch (err) {
      worker.terminate();
      throw err;
    }
  }

  get stepsDone(): number {
    return this.log.length;
  }

  get finished(): boolean {
    return this.log.length >= this.settings.steps;
  }

  async step(): Promise<{ entry: LogEntry; sample?: string }> {
    const reply = await call(this.#worker, { type: "step" }, this.#onText);
    if (reply.type !== "stepped") throw new Error(`the CPU worker answered ${reply.type}`);
    this.log.push(reply.entry);
    return reply;
  }

  async sample(settings: SampleSettings, onText: (piece: string) => void): Promise<number> {
    const reply = await call(this.#worker, { type: "sample", settings }, onText);
    if (reply.type !== "sampled") throw new Error(`the CPU worker answered ${reply.type}`);
    return reply.tokens;
  }

  async readParameters(): Promise<ParameterTensors> {
    const reply = await call(this.#worker, { type: "read" }, this.#onText);
    if (reply.type !== "params") throw new Error(`the CPU worker answered ${reply.type}`);
    return reply.params;
  }

  close(): void {
    this.#worker.terminate(); // its kernel Workers end with it
  }
}

/** Sends one request and resolves with its reply (`text` pieces go to `onText` on the way). */
function call(worker: Worker, request: Request, onText: (piece: string) => void): Promise<Reply> {
  return new Promise((resolve, reject) => {
    worker.onmessage = (e: MessageEvent<Reply>) => {
      const reply = e.data;
      if (reply.type === "text") return onText(reply.piece);
      if (reply.type === "error") reject(new Error(reply.message));
      else resolve(reply);
    };
    worker.onerror = (e) => {
      e.preventDefault();
      reject(new Error(`the CPU worker failed: ${e.message}`));
    };
    worker.postMessage(request);
  });
}

/**
 * The Worker's side: holds one `TrainingRun` and answers the page's requests. web/app.ts calls it when the bundle
 * is evaluated in a Worker named `RUN_WORKER_NAME`.
 */
export function serveRunWorker(): void {
  const scope = globalThis as unknown as WorkerScope;
  let run: TrainingRun | undefined;
  let queue = Promise.resolve();
  const handle = async (request: Request): Promise<Reply> => {
    if (request.type === "create") {
      run = await TrainingRun.create(request.settings, request.shards, request.threads);
      return { type: "created", device: run.device, T: run.T };
    }
    if (!run) throw new Error("no run in the CPU worker");
    if (request.type === "step") return { type: "stepped", ...await run.step() };
    if (request.type === "sample") {
      const tokens = await run.sample(request.settings, (piece) => scope.postMessage({ type: "text", piece }));
      return { type: "sampled", tokens };
    }
    return { type: "params", params: await run.readParameters() };
  };
  scope.onmessage = (e) => {
    queue = queue.then(() => handle(e.data)).then(
      (reply) => scope.postMessage(reply),
      (err) => scope.postMessage({ type: "error", message: (err as Error).message ?? String(err) }),
    );
  };
}
