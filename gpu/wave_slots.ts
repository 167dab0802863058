/**
 * How many workgroups of the tiled matmul kernel the GPU runs at once, measured once per device, for the split-K
 * model of `gpu/_gemm.ts` (`SplitKOptions.waveSlots`, `wavedSlices`).
 *
 * @module
 */
import { gemm, GEMM_TILE, type GemmOptions } from "./_gemm.ts";
import type { GpuRuntime } from "./runtime.ts";

/** Measured workgroup slots per device (`measureWaveSlots`). */
const WAVE_SLOTS = new WeakMap<GPUDevice, number>();

/**
 * How many workgroups of the tiled kernel the GPU runs side by side, measured once per device: the product of one
 * 128×128 tile over K = 1024, batched n times (same operands, so it is compute-bound), timed for n = 4, 8, … 1024;
 * the slots are the last n before the time jumps by more than 40% (where the n-th workgroup has to share a
 * processor, or wait for one). 0 (unknown: split-K keeps its plain target) without timestamps, on CPU adapters, or
 * where no jump shows.
 *
 * @param rt The runtime.
 * @param opts The launcher's tuning (its tile depth and the rest).
 */
export async function measureWaveSlots(rt: GpuRuntime, opts: GemmOptions): Promise<number> {
  if (!rt.ctx.hasTimestamps || rt.ctx.isFallback) return 0;
  const known = WAVE_SLOTS.get(rt.device);
  if (known !== undefined) return known;
  const slots = await probeWaveSlots(rt, opts, GEMM_TILE);
  WAVE_SLOTS.set(rt.device, slots);
  return slots;
}

/**
 * `measureWaveSlots`'s probe, uncached, for one-tile products `width` columns wide (128, or 64 for the kernel's
 * 64-wide tiles) under `opts` (dev/bench_matmul.ts `--slots` compares kernels by it). Needs timestamps.
 */
export async function probeWaveSlots(rt: GpuRuntime, opts: GemmOptions, width: 64 | 128): Promise<number> {
  const K = 1024, STEP = 4, MOST = 1024, TILE = GEMM_TILE * width;
  // A and B in a buffer of their own (an op may not read and write one buffer), C in the scratch.
  const arena = rt.createArena("workgroup-slot probe", "f32", 2 * GEMM_TILE * K);
  const ab = { arena, offset: 0, length: arena.length };
  const c = rt.scratch(MOST * TILE);
  const tiled = { ...opts, smallMaxOutputs: 0, rowsMaxRows: 0, splitK: { ...opts.splitK, waveSlots: 0 } };
  const product = (n: number) =>
    gemm(rt, {
      M: GEMM_TILE,
      N: width,
      K,
      batch: { outer: n, inner: 1 },
      a: { t: ab, start: 0, sm: K, sk: 1, so: 0 },
      b: { t: ab, start: GEMM_TILE * K, sk: width, sn: 1, so: 0 },
      c: { t: c, start: 0, sm: width, so: TILE },
    }, tiled);
  const counts = Array.from({ length: MOST / STEP }, (_, i) => STEP * (i + 1));
  for (let i = 0; i < 4; i++) product(MOST); // compiles the pipeline and raises the clocks
  rt.startProfile();
  for (const round of [0, 1]) {
    for (const n of round === 0 ? counts : counts.toReversed()) rt.group(`${n}`, {}, () => product(n));
  }
  const ms = new Map((await rt.stopProfile()).map((row) => [Number(row.name), row.ms]));
  for (const segment of arena.segments) segment.buffer.destroy();
  const base = ms.get(STEP)!;
  const jump = counts.find((n) => ms.get(n)! > 1.4 * base);
  return jump === undefined ? 0 : jump - STEP;
}
