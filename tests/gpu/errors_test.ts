/**
 * Bad input on the GPU: a shader that does not compile and a device that is gone both end in a one-line UserError
 * (never a hang or a stack trace).
 */
import { requestGpuDevice } from "../../gpu/device.ts";
import type { KernelDescriptor } from "../../gpu/kernel.ts";
import { GpuRuntime } from "../../gpu/runtime.ts";
import { bindRange } from "../../gpu/tensor.ts";
import { UserError } from "../../util/errors.ts";
import { adapterAvailable } from "./_helpers.ts";

const broken: KernelDescriptor = {
  subgroups: false,
  f16: false,
  name: "broken_kernel",
  source: "@compute @workgroup_size(1) fn broken_kernel() { let x: f32 = nope; }",
  storage: [{ name: "out", access: "read_write" }],
  params: {},
  overrides: {},
  perThread: 1,
};

async function expectUserError(body: () => Promise<unknown>, pattern: RegExp): Promise<void> {
  try {
    await body();
  } catch (err) {
    if (!(err instanceof UserError) || !pattern.test(err.message) || err.message.includes("\n")) throw err;
    return;
  }
  throw new Error("no error");
}

Deno.test({
  name: "gpu errors: a kernel whose WGSL does not compile is a one-line UserError naming it",
  ignore: !adapterAvailable,
  fn: async () => {
    const rt = new GpuRuntime(await requestGpuDevice(navigator.gpu));
    try {
      const arena = await rt.allocate("out", "f32", 4);
      const t = { arena, offset: 0, length: 4 };
      await expectUserError(async () => {
        rt.dispatch({ kernel: broken, bindings: [bindRange(t, 0, 4, rt.limits)], params: {}, groups: [1] });
        await rt.read(t);
      }, /^WebGPU error: .*broken_kernel/);
    } finally {
      rt.device.destroy();
    }
  },
});

Deno.test({
  name: "gpu errors: work on a destroyed device is a UserError saying the device was lost",
  ignore: !adapterAvailable,
  fn: async () => {
    const rt = new GpuRuntime(await requestGpuDevice(navigator.gpu));
    const arena = await rt.allocate("out", "f32", 4);
    const t = { arena, offset: 0, length: 4 };
    rt.device.destroy();
    await expectUserError(() => rt.read(t), /^WebGPU device lost/);
    await expectUserError(() => rt.read(t), /^WebGPU device lost/); // and again: the device does not come back
  },
});
