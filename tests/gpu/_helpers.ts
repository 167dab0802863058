/**
 * Shared helpers of the GPU kernel tests: one backend per test process (with split-K forced on small shapes so
 * that path is tested), seeded random data, tensors at deliberately unaligned offsets, NaN-poisoned outputs and a
 * tolerance check that reports the worst element.
 *
 * @module
 */
import { createGpuOps, type GpuOps } from "../../gpu/backend.ts";
import { gpuAdapterAvailable } from "../../gpu/device.ts";
import type { GpuTensor } from "../../gpu/tensor.ts";

/** Whether a WebGPU adapter exists (tests are ignored only where none does). */
export const adapterAvailable = await gpuAdapterAvailable();

let tiled: Promise<GpuOps> | undefined;
let production: Promise<GpuOps> | undefined;

/**
 * The kernel-test backend: every product uses the tiled matmul (never the small-output kernel) and split-K kicks in
 * for any K ≥ 32, so small test shapes exercise the paths large models take.
 */
export function testOps(): Promise<GpuOps> {
  tiled ??= createGpuOps({ splitK: { targetWorkgroups: 1 << 20, minChunk: 16 }, smallMatmulMaxOutputs: 0 });
  return tiled;
}

/** A backend with the production defaults (small outputs use `matmul_small`, split-K only for long K). */
export function defaultOps(): Promise<GpuOps> {
  production ??= createGpuOps();
  return production;
}

/** Deterministic pseudo-random numbers (mulberry32), uniform in [-scale, scale). */
export function random(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = ((((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1) * scale;
  }
  return out;
}

/** Random token ids in [0, V). */
export function randomTokens(n: number, V: number, seed: number): Int32Array {
  return Int32Array.from(random(n, seed), (x) => Math.min(V - 1, Math.floor(((x + 1) / 2) * V)));
}

/**
 * A GPU tensor holding `data`, placed `pad` elements into its buffer so its start is not 256-byte aligned (as
 * per-layer views are).
 */
export async function upload(ops: GpuOps, data: Float32Array, pad = 3): Promise<GpuTensor> {
  const whole = await ops.allocate("test", data.length + pad);
  const t = ops.view(whole, pad, data.length);
  ops.write(t, data);
  return t;
}

/** An int tensor holding `data` at an unaligned start. */
export async function uploadInt(ops: GpuOps, data: Int32Array, pad = 5): Promise<GpuTensor> {
  const whole = await ops.allocate("test tokens", data.length + pad, "i32");
  const t = ops.view(whole, pad, data.length);
  ops.writeInt(t, data);
  return t;
}

/** An output tensor of n elements filled with NaN, so elements a kernel fails to write fail the comparison. */
export function poisoned(ops: GpuOps, n: number, pad = 7): Promise<GpuTensor> {
  return upload(ops, new Float32Array(n).fill(NaN), pad);
}

/**
 * Asserts |actual - expected| ≤ atol + rtol·|expected| element by element (NaN fails); returns the max abs diff.
 *
 * @param actual GPU result.
 * @param expected CPU reference.
 * @param tol Tolerances.
 * @param what Name for the message.
 * @param mask Only compare elements where mask(i) is true (e.g. the lower triangle of attention scratch).
 */
export function assertClose(
  actual: Float32Array,
  expected: Float32Array,
  tol: { atol: number; rtol: number },
  what: string,
  mask?: (i: number) => boolean,
): number {
  if (actual.length !== expected.length) throw new Error(`${what}: length ${actual.length} != ${expected.length}`);
  let worst = 0;
  let compared = 0;
  for (let i = 0; i < actual.length; i++) {
    if (mask && !mask(i)) continue;
    compared++;
    const diff = Math.abs(actual[i] - expected[i]);
    if (!(diff <= tol.atol + tol.rtol * Math.abs(expected[i]))) {
      throw new Error(`${what}[${i}]: GPU ${actual[i]} vs CPU ${expected[i]} (|diff| ${diff})`);
    }
    worst = Math.max(worst, diff);
  }
  if (compared === 0) throw new Error(`${what}: nothing compared`);
  return worst;
}
