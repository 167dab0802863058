/** Model-level behaviour of GPT2 on the CPU: init, sources, gradient accumulation, clipping, bad tokens. */
import { adamwUpdate } from "../../layers/adamw.ts";
import { readCheckpoint } from "../../model/checkpoint.ts";
import { parseModelDescriptor } from "../../model/config.ts";
import { createCpuModel } from "../../model/cpu_model.ts";
import { randomParameters } from "../../model/init.ts";
import { openModel, resolveModelSource } from "../../model/source.ts";
import { PARAMETER_NAMES } from "../../model/tensors.ts";
import { UsageError, UserError } from "../../util/errors.ts";
import { fixturePath } from "./_fixtures.ts";

const SHAPE = "layers=2,heads=3,channels=30,seq=16,vocab=97";

function std(a: ArrayLike<number>, n = a.length): number {
  let s = 0, s2 = 0;
  for (let i = 0; i < n; i++) [s, s2] = [s + a[i], s2 + a[i] * a[i]];
  return Math.sqrt(s2 / n - (s / n) ** 2);
}

function tokens(seed: number, n: number, V: number): Int32Array {
  return Int32Array.from({ length: n }, (_, i) => (i * 7919 + seed * 104729) % V);
}

Deno.test("random init: GPT-2's distributions, padded wte rows zero, deterministic per seed", () => {
  const cfg = parseModelDescriptor(SHAPE)!; // Vp = 128: wte rows 97..127 are padding
  const a = Object.fromEntries(randomParameters(cfg, 42));
  const b = Object.fromEntries(randomParameters(cfg, 42));
  const c = Object.fromEntries(randomParameters(cfg, 43));
  for (const p of PARAMETER_NAMES) {
    if (a[p].some((x: number, i: number) => x !== b[p][i])) throw new Error(`${p}: same seed, different values`);
  }
  if (a.qkvw.every((x: number, i: number) => x === c.qkvw[i])) throw new Error("different seeds, same values");
  const C = cfg.channels;
  // Sample standard deviations of ≥2,900 normals are within 5% of the true value (≈ 3.6 standard errors).
  const near = (got: number, want: number, what: string) => {
    if (Math.abs(got / want - 1) > 0.05) throw new Error(`${what}: std ${got}, expected ${want}`);
  };
  near(std(a.wte, cfg.vocabSize * C), 0.02, "wte");
  near(std(a.qkvw), 0.02, "qkvw");
  near(std(a.fcw), 0.02, "fcw");
  near(std(a.attprojw), 0.02 / Math.sqrt(2 * cfg.numLayers), "attprojw");
  near(std(a.fcprojw), 0.02 / Math.sqrt(2 * cfg.numLayers), "fcprojw");
  if (a.wte.subarray(cfg.vocabSize * C).some((x: number) => x !== 0)) throw new Error("padded wte rows not zero");
  for (const p of ["ln1w", "ln2w", "lnfw"]) if (a[p].some((x: number) => x !== 1)) throw new Error(`${p} not 1`);
  for (const p of ["ln1b", "ln2b", "lnfb", "qkvb", "attprojb", "fcb", "fcprojb"]) {
    if (a[p].some((x: number) => x !== 0)) throw new Error(`${p} not 0`);
  }
});

Deno.test("model sources: llm.c's presets, explicit shapes, checkpoints; bad descriptors are usage errors", async () => {
  const presets = {
    d6: [6, 6, 384],
    d12: [12, 12, 768],
    d24: [24, 16, 1024],
    d36: [36, 20, 1280],
    d48: [48, 25, 1600],
  };
  for (const [name, [L, NH, C]] of Object.entries(presets)) {
    const { config } = await resolveModelSource(name);
    const got = [config.numLayers, config.numHeads, config.channels, config.maxSeqLen, config.paddedVocabSize];
    if (got.join() !== [L, NH, C, 1024, 50304].join()) throw new Error(`${name}: ${got}`);
  }
  const shaped = await resolveModelSource("layers=2,heads=4,channels=64,seq=128");
  if (shaped.config.vocabSize !== 50257 || shaped.config.paddedVocabSize !== 50304) throw new Error("default vocab");
  const path = fixturePath("small", "model.bin");
  const model = await openModel(path, (cfg) => createCpuModel(cfg, 1, 8));
  const want = (await readCheckpoint(path)).params;
  const got = await model.readParameters();
  for (const p of PARAMETER_NAMES) if (got[p].some((x, i) => x !== want[p][i])) throw new Error(`${p} not loaded`);
  for (const bad of ["layers=2,heads=4", "layers=x,heads=1,channels=8,seq=4"]) {
    try {
      await resolveModelSource(bad);
      throw new Error(`${bad} accepted`);
    } catch (err) {
      if (!(err instanceof UsageError)) throw err;
    }
  }
});

Deno.test("gradients accumulate across backward passes; activation gradients leave nothing behind", async () => {
  const cfg = parseModelDescriptor(SHAPE)!;
  const [B, T, V] = [2, 5, cfg.vocabSize];
  const build = async () => {
    const m = await createCpuModel(cfg, B, T);
    for (const [name, data] of randomParameters(cfg, 1)) m.writeParameter(name, data);
    return m;
  };
  const [x1, y1, x2, y2] = [1, 2, 3, 4].map((s) => tokens(s, B * T, V));
  const fresh = await build();
  fresh.forward(x2, y2);
  fresh.zeroGrad();
  fresh.backward();
  const once = await fresh.readGradients();
  fresh.forward(x2, y2);
  fresh.backward(); // no zeroGrad: adds the same gradients again
  const twice = await fresh.readGradients();
  const used = await build();
  used.forward(x1, y1);
  used.zeroGrad();
  used.backward();
  used.forward(x2, y2);
  used.zeroGrad();
  used.backward(); // stale activation gradients from batch 1 must not leak in
  const after = await used.readGradients();
  for (const p of PARAMETER_NAMES) {
    // wte and wpe gather several float32 additions per pass (output head + embedding, repeated tokens/positions),
    // so the second pass rounds differently: allow 1e-6 of the tensor's largest gradient.
    const scale = once[p].reduce((m, g) => Math.max(m, Math.abs(g)), 0);
    for (let i = 0; i < once[p].length; i++) {
      if (Math.abs(twice[p][i] - 2 * once[p][i]) > 1e-6 * scale) throw new Error(`${p}[${i}] did not accumulate`);
      if (after[p][i] !== once[p][i]) throw new Error(`${p}[${i}] depends on the previous batch`);
    }
  }
});

Deno.test("update with maxGradNorm: returns the global norm and scales gradients by max/norm", async () => {
  const cfg = parseModelDescriptor(SHAPE)!;
  const [B, T] = [1, 4];
  const model = await createCpuModel(cfg, B, T);
  for (const [name, data] of randomParameters(cfg, 2)) model.writeParameter(name, data);
  model.forward(tokens(5, B * T, cfg.vocabSize), tokens(6, B * T, cfg.vocabSize));
  model.zeroGrad();
  model.backward();
  const grads = await model.readGradients();
  const before = await model.readParameters();
  let sumSq = 0;
  for (const p of PARAMETER_NAMES) for (const g of grads[p]) sumSq += g * g;
  const hyper = { learningRate: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, step: 1 };
  const maxGradNorm = 0.01;
  const norm = await model.update({ ...hyper, maxGradNorm });
  if (norm === undefined || Math.abs(norm - Math.sqrt(sumSq)) > 1e-12 * norm) throw new Error(`norm ${norm}`);
  if (!(norm > maxGradNorm)) throw new Error("test needs a norm above the clip");
  const after = await model.readParameters();
  for (const p of PARAMETER_NAMES) {
    const n = before[p].length;
    const want = before[p].slice();
    adamwUpdate({ params: want, grads: grads[p], m: new Float32Array(n), v: new Float32Array(n) }, { n }, {
      ...hyper,
      gradScale: maxGradNorm / norm,
    });
    if (after[p].some((x, i) => x !== want[i])) throw new Error(`${p}: not the clipped AdamW step`);
  }
});

Deno.test("forward rejects tokens outside the vocabulary; backward needs targets", async () => {
  const cfg = parseModelDescriptor("layers=1,heads=1,channels=4,seq=4,vocab=10")!;
  const model = await createCpuModel(cfg, 1, 2);
  try {
    model.forward(new Int32Array([3, 10]));
    throw new Error("token 10 accepted");
  } catch (err) {
    if (!(err instanceof UserError) || !/token 10 at position 1/.test(err.message)) throw err;
  }
  model.forward(new Int32Array([3, 9]));
  let threw = false;
  try {
    model.backward();
  } catch {
    threw = true;
  }
  if (!threw) throw new Error("backward ran without targets");
});
