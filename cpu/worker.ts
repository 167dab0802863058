/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
/**
 * A CPU kernel Worker. Started by `CpuKernels.create` with one message { bytes, memory, ctrl }: it instantiates
 * the kernel module over the shared memory, answers "ready", then loops: wait for the control block's
 * generation to change, take work items of the job until none are left, count itself done. It never returns
 * to its event loop until told to quit.
 *
 * @module
 */
import { controlViews, CTRL, KIND, runJob, type ThreadContext } from "./wasm/jobs.ts";
import type { KernelExports } from "./wasm/module.ts";

interface Start {
  bytes: Uint8Array<ArrayBuffer>;
  memory: WebAssembly.Memory;
  ctrl: SharedArrayBuffer;
}

self.onmessage = (e: MessageEvent<Start>) => {
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
