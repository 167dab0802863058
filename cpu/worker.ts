/**
 * The CPU kernel Worker's side. `CpuKernels.create` starts each Worker on `cpu/kernels.ts` itself
 * (`new Worker(import.meta.url, { name: KERNEL_WORKER_NAME })`), which imports this module; when this module is
 * evaluated inside a Worker of that name, it installs the message handler below. Starting the Worker on the
 * module that starts it, rather than on a separate file, keeps one code path for a checkout, a URL import, a
 * single-file bundle (where `import.meta.url` is the bundle) and `deno compile` (nothing to `--include`).
 *
 * The Worker takes one message { bytes, memory, ctrl }: it instantiates the kernel module over the shared memory,
 * answers "ready", then loops: wait for the control block's generation to change, take work items of the job
 * until none are left, count itself done. It never returns to its event loop until told to quit.
 *
 * @module
 */
import { controlViews, CTRL, KIND, runJob, type ThreadContext } from "./wasm/jobs.ts";
import type { KernelExports } from "./wasm/exports.ts";

/** The `name` given to CPU kernel Workers; a Worker of any other name (a user's own) is left alone. */
export const KERNEL_WORKER_NAME = "llmts-cpu-kernel";

interface Start {
  bytes: Uint8Array<ArrayBuffer>;
  memory: WebAssembly.Memory;
  ctrl: SharedArrayBuffer;
}

/** The parts of a Worker's global scope used here (typed by hand: this module also loads on the main thread). */
interface WorkerScope {
  name: string;
  onmessage: ((e: MessageEvent<Start>) => void) | null;
  postMessage(message: unknown): void;
  close(): void;
}

/**
 * Whether this code runs inside any Worker (not the main thread). The CLI checks it so that its `main` does not
 * run when a Worker evaluates the bundled program.
 *
 * @returns True inside a Worker.
 * @example
 * ```ts
 * import { inWorker } from "./worker.ts";
 * if (inWorker()) throw new Error("tests run on the main thread");
 * ```
 */
export function inWorker(): boolean {
  const scope = (globalThis as { WorkerGlobalScope?: abstract new () => unknown }).WorkerGlobalScope;
  return scope !== undefined && globalThis instanceof scope;
}

function serve(self: WorkerScope): void {
  self.onmessage = (e) => {
    const { bytes, memory, ctrl } = e.data;
    const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
    const t: ThreadContext = { ex: instance.exports as unknown as KernelExports, memory, ...controlViews(ctrl) };
    const c = t.ctrl;
    let seen = Atomics.load(c, CTRL.GEN);
    self.postMessage("ready");
    for (;;) {
      Atomics.wait(c, CTRL.GEN, seen);
      seen = Atomics.load(c, CTRL.GEN);
      if (Atomics.load(c, CTRL.KIND) === KIND.QUIT) break;
      try {
        Atomics.add(c, CTRL.WORKER_ITEMS, runJob(t));
      } catch (err) {
        console.error(err);
        Atomics.store(c, CTRL.ERR, 1);
      }
      Atomics.add(c, CTRL.DONE, 1);
      Atomics.notify(c, CTRL.DONE);
    }
    self.close();
  };
}

if (inWorker() && (globalThis as unknown as WorkerScope).name === KERNEL_WORKER_NAME) {
  serve(globalThis as unknown as WorkerScope);
}
