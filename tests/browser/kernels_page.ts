/**
 * The page side of tests/browser/kernels_test.ts, bundled for the browser: runs GPU ops on the page's WebGPU device
 * (where Chromium's adapter grants `subgroups`, the kernels' subgroup forms) against their CPU forms on the same
 * inputs, and reports the largest differences for the Deno side to check. Exposed as `globalThis.kernelChecks`.
 *
 * @module
 */
import { createGpuExecutor } from "../../gpu/executor.ts";
import { getGpuDevice } from "../../gpu/device.ts";
import { KERNELS } from "../../gpu/kernel.ts";
import "../../model/gpt2.ts"; // every training layer's kernels register themselves in KERNELS
import "../../layers/f16_copy.ts"; // not used by the model yet
import "../../layers/sample.ts"; // and generation's (not model/decoder.ts: its tokenizer reads files)
import { flashAttention, flashAttentionForward, flashTiles, parseFlashTiles } from "../../layers/flash_attention.ts";
import { rng, uniform } from "../_random.ts";
import { createGpuModel } from "../../model/gpu_model.ts";
import { parseModelDescriptor } from "../../model/config.ts";
import { STEPS_RUN, trainSteps } from "./_steps.ts";

/** Largest |a - b| (NaN when an element is not finite: an unwritten, NaN-poisoned output). */
function maxDiff(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= worst)) worst = Number.isNaN(d) ? NaN : d;
    if (Number.isNaN(worst)) return NaN;
  }
  return worst;
}

/**
 * One flash forward case: out and lse of the GPU op against the scalar reference, with the launcher's tiles or, given
 * `forward` (e.g. "16x16x16": 16 threads a row group), that forward tile.
 */
async function flashForward(B: number, T: number, C: number, NH: number, forward?: string) {
  const ops = await createGpuExecutor();
  const hs = C / NH;
  const tiles = forward
    ? { ...flashTiles(hs, ops.runtime.limits.maxComputeWorkgroupStorageSize), forward: parseFlashTiles(forward)[0] }
    : undefined;
  const s = { B, T, C, NH, tiles };
  const inp = uniform(rng(B + 10 * T + C), B * T * 3 * C, 2);
  const out = new Float32Array(B * T * C), lse = new Float32Array(B * NH * T);
  flashAttentionForward({ out, lse, inp }, s);
  const tensor = async (data: Float32Array) => {
    const t = await ops.allocate("page", data.length);
    ops.write(t, data);
    return t;
  };
  const g = {
    out: await tensor(new Float32Array(out.length).fill(NaN)),
    lse: await tensor(new Float32Array(lse.length).fill(NaN)),
    inp: await tensor(inp),
  };
  ops.run(flashAttention.forward, g, s);
  return { out: maxDiff(await ops.read(g.out), out), lse: maxDiff(await ops.read(g.lse), lse) };
}

/** Every registered kernel compiled by the browser's WGSL compiler (Tint): its errors and warnings. */
async function compileAll(): Promise<{ compiled: number; messages: string[] }> {
  const { device, hasF16, hasSubgroups, subgroupPreamble } = await getGpuDevice();
  const messages: string[] = [];
  let compiled = 0;
  for (const k of KERNELS.values()) {
    if (k.subgroups && !hasSubgroups) continue;
    if (k.f16 && !hasF16) continue; // native f16 forms: validated by naga in tests/gpu/kernels_test.ts
    const code = k.subgroups ? subgroupPreamble + k.source : k.source;
    const info = await device.createShaderModule({ code }).getCompilationInfo();
    for (const m of info.messages) {
      messages.push(`${k.name}${k.subgroups ? " (subgroups)" : ""}:${m.lineNum}: ${m.type}: ${m.message}`);
    }
    compiled++;
  }
  return { compiled, messages };
}

/** The comparison run of tests/browser/_steps.ts on this page's WebGPU device: its losses. */
async function training(): Promise<number[]> {
  const { model: spec, B, T, steps, seed } = STEPS_RUN;
  const model = await createGpuModel(parseModelDescriptor(spec)!, B, T);
  try {
    return await trainSteps(model, steps, seed);
  } finally {
    model.close();
  }
}

const checks = {
  compileAll,
  training,
  /** The device the page got: its name and whether it has subgroups. */
  async device() {
    const ops = await createGpuExecutor();
    return { description: ops.description, subgroups: ops.runtime.ctx.hasSubgroups };
  },
  flashForward,
};
(globalThis as unknown as { kernelChecks: typeof checks }).kernelChecks = checks;
export type KernelChecks = typeof checks;
