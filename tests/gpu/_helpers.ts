/**
 * Shared helpers of the GPU kernel tests: one backend per test process (with split-K forced on small shapes so
 * that path is tested), tensors at deliberately unaligned offsets and NaN-poisoned outputs. Random data comes
 * from tests/_random.ts and `assertClose` from tests/_assert.ts.
 *
 * @module
 */
import { createGpuExecutor, GpuExecutor } from "../../gpu/executor.ts";
import { getGpuDevice, gpuAdapterAvailable } from "../../gpu/device.ts";
import { GpuRuntime } from "../../gpu/runtime.ts";
import type { GpuTensor } from "../../gpu/tensor.ts";

/** Whether a WebGPU adapter exists (tests are ignored only where none does). */
export const adapterAvailable = await gpuAdapterAvailable();

let tiled: Promise<GpuExecutor> | undefined;
let production: Promise<GpuExecutor> | undefined;

/**
 * The kernel-test backend: every product uses the tiled matmul (never the small-output kernel) and split-K kicks in
 * for any K ≥ 32, so small test shapes exercise the paths large models take.
 */
export function testOps(): Promise<GpuExecutor> {
  tiled ??= createGpuExecutor({ splitK: { targetWorkgroups: 1 << 20, minChunk: 16 }, smallMatmulMaxOutputs: 0 });
  return tiled;
}

/** A backend with the production defaults (small outputs use `matmul_small`, split-K only for long K). */
export function defaultOps(): Promise<GpuExecutor> {
  production ??= createGpuExecutor();
  return production;
}

let oneWorkgroup: Promise<GpuExecutor> | undefined;

/**
 * A backend whose grids are one workgroup wide (maxComputeWorkgroupsPerDimension 1), so a grid-stride kernel takes
 * several steps of its loop on a test's few thousand elements, as it does on a large model's tens of millions.
 */
export function oneWorkgroupOps(): Promise<GpuExecutor> {
  oneWorkgroup ??= getGpuDevice().then((ctx) => {
    const limits = { ...ctx.limits, maxComputeWorkgroupsPerDimension: 1 };
    return new GpuExecutor(new GpuRuntime({ ...ctx, limits }));
  });
  return oneWorkgroup;
}

/**
 * A GPU tensor holding `data`, placed `pad` elements into its buffer so its start is not 256-byte aligned (as
 * per-layer views are).
 */
export async function upload(ops: GpuExecutor, data: Float32Array, pad = 3): Promise<GpuTensor> {
  const whole = await ops.allocate("test", data.length + pad);
  const t = ops.view(whole, pad, data.length);
  ops.write(t, data);
  return t;
}

/** An int tensor holding `data` at an unaligned start. */
export async function uploadInt(ops: GpuExecutor, data: Int32Array, pad = 5): Promise<GpuTensor> {
  const whole = await ops.allocate("test tokens", data.length + pad, "i32");
  const t = ops.view(whole, pad, data.length);
  ops.writeInt(t, data);
  return t;
}

/** An output tensor of n elements filled with NaN, so elements a kernel fails to write fail the comparison. */
export function poisoned(ops: GpuExecutor, n: number, pad = 7): Promise<GpuTensor> {
  return upload(ops, new Float32Array(n).fill(NaN), pad);
}
