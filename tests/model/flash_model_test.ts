/**
 * GPT-2 with flash attention (`attention: "flash"`, `train --attention flash`) against the materialized attention
 * the model uses by default: the same loss, gradients and decoded logits on the CPU and on WebGPU, and plans without
 * any (B,NH,T,T) tensor.
 */
import assert from "node:assert/strict";
import { CpuKernels } from "../../cpu/kernels.ts";
import { gpuAdapterAvailable } from "../../gpu/device.ts";
import type { AttentionKind } from "../../model/block.ts";
import { parseModelDescriptor } from "../../model/config.ts";
import { createCpuModel } from "../../model/cpu_model.ts";
import { GPT2Decoder } from "../../model/decoder.ts";
import type { GPT2 } from "../../model/gpt2.ts";
import { createGpuModel, gpuModelBytes } from "../../model/gpu_model.ts";
import { planModel } from "../../model/layout.ts";
import { loadParameters, resolveModelSource } from "../../model/source.ts";
import { PARAMETER_NAMES } from "../../model/tensors.ts";
import { assertClose } from "../_assert.ts";
import { gpt2, oneLine, tinyRun } from "../train/_cli.ts";

// Head size 8 (the GPU flash kernels take multiples of 4); T = 33 crosses the kernels' 32-row blocks.
const SPEC = "layers=2,heads=3,channels=24,seq=40,vocab=97";
const cfg = parseModelDescriptor(SPEC)!;
const adapter = await gpuAdapterAvailable();
const [B, T] = [2, 33];

// deno-lint-ignore no-explicit-any
type Model = GPT2<any, any>;
type Factory = (attention: AttentionKind, B: number, T: number) => Promise<Model>;
const BACKENDS: [string, Factory, boolean][] = [
  ["cpu", (attention, B, T) => createCpuModel(cfg, B, T, { attention }), false],
  [
    "cpu kernels",
    (a, B, T) => createCpuModel(cfg, B, T, { attention: a, kernels: (m) => CpuKernels.create(m, 2) }),
    false,
  ],
  ["gpu", (attention, B, T) => createGpuModel(cfg, B, T, { attention }), !adapter],
];

async function loaded(create: Factory, attention: AttentionKind, B: number, T: number): Promise<Model> {
  const model = await create(attention, B, T);
  await loadParameters(model, await resolveModelSource(SPEC), 5);
  return model;
}

const tokens = (n: number, seed: number) => Int32Array.from({ length: n }, (_, i) => (i * 37 + seed) % cfg.vocabSize);

for (const [name, create, ignore] of BACKENDS) {
  Deno.test({
    name: `flash attention model (${name}): loss, every parameter gradient and one AdamW step match materialized`,
    ignore,
    async fn() {
      const results = [];
      for (const attention of ["materialized", "flash"] as const) {
        const model = await loaded(create, attention, B, T);
        try {
          model.forward(tokens(B * T, 11), tokens(B * T, 12));
          const loss = await model.meanLoss();
          model.zeroGrad();
          model.backward();
          const grads = await model.readGradients();
          await model.update({
            learningRate: 1e-3,
            beta1: 0.9,
            beta2: 0.95,
            eps: 1e-8,
            weightDecay: 0,
            step: 1,
            maxGradNorm: 1,
          });
          results.push({ loss, grads, params: await model.readParameters() });
        } finally {
          model.close();
        }
      }
      const [m, f] = results;
      // float32 softmax in another order (online, per key block): the loss agrees to ~1e-6 relative.
      assert.ok(Math.abs(m.loss - f.loss) <= 1e-5 * Math.abs(m.loss), `loss ${f.loss} vs ${m.loss}`);
      // Gradients of ~1e-2 reached through differently ordered float32 sums: within 1e-5 absolute, as the GPU
      // layer tests allow for attention's backward.
      for (const p of PARAMETER_NAMES) assertClose(f.grads[p], m.grads[p], { atol: 1e-5, rtol: 1e-4 }, `d${p}`);
      // One AdamW step moves each parameter by ~lr; the same step from the same gradients to ~1e-6.
      for (const p of PARAMETER_NAMES) assertClose(f.params[p], m.params[p], { atol: 2e-6, rtol: 1e-5 }, p);
    },
  });

  Deno.test({
    name: `flash attention model (${name}): decoded and prefilled logits equal the full forward pass`,
    ignore,
    async fn() {
      const n = 12;
      const model = await loaded(create, "flash", 1, n);
      try {
        const input = tokens(n, 3);
        model.forward(input);
        const full = await model.readLogits();
        const Vp = cfg.paddedVocabSize;
        const decoder = new GPT2Decoder(model);
        for (let pos = 0; pos < n; pos++) {
          const row = (await decoder.step(input[pos])).subarray(0, cfg.vocabSize);
          assertClose(row, full.subarray(pos * Vp, pos * Vp + cfg.vocabSize), { atol: 1e-4, rtol: 1e-4 }, `pos ${pos}`);
        }
        // A prompt in one pass: flash attention over the prompt's rows.
        const last = (await new GPT2Decoder(model).prefill([...input])).subarray(0, cfg.vocabSize);
        const want = full.subarray((n - 1) * Vp, (n - 1) * Vp + cfg.vocabSize);
        assertClose(last, want, { atol: 1e-4, rtol: 1e-4 }, "prefill");
      } finally {
        model.close();
      }
    },
  });
}

Deno.test("flash attention plans no (B,NH,T,T) tensor and needs less memory", () => {
  const scores = B * cfg.numHeads * T * T;
  const perBlockLse = cfg.numLayers * B * cfg.numHeads * T;
  const SCORE_NAMES = ["preatt", "att", "dpreatt"]; // (backward's datt reuses preatt)
  for (const attention of ["materialized", "flash"] as const) {
    const layout = planModel(cfg, B, T, 16, attention);
    const slots = new Map([...layout.acts.slots, ...layout.gradActs.slots].map((s) => [s.name, s.length]));
    for (const name of SCORE_NAMES) assert.equal(slots.get(name), attention === "flash" ? 1 : scores, name);
    // Both keep each block's log-sum-exps (B,NH,T): flash for its backward, materialized for its recompute.
    assert.equal(slots.get("attLse"), perBlockLse, "attLse");
  }
  // The three score buffers go (up to alignment padding).
  const saved = 3 * 4 * (scores - 1);
  const diff = gpuModelBytes(cfg, B, T, { attention: "materialized" }) -
    gpuModelBytes(cfg, B, T, { attention: "flash" });
  assert.ok(Math.abs(diff - saved) <= 4 * 64 * 8, `saved ${diff} bytes, expected ${saved} (up to alignment)`);
});

Deno.test("train --attention flash: says so at the start and matches the materialized run's losses", async () => {
  const { dir, flags } = await tinyRun();
  const losses = async (extra: string[]) => {
    const run = await gpt2("train", ...flags, "-x", "3", "--json", "-o", `${dir}/run${extra.length}`, ...extra);
    assert.equal(run.code, 0, run.stderr);
    const events = run.stdout.trim().split("\n").map((line) => JSON.parse(line));
    return { start: events.find((e) => e.type === "start"), losses: events.filter((e) => e.type === "step") };
  };
  const materialized = await losses([]);
  const flash = await losses(["--attention", "flash"]);
  assert.equal(flash.start.attention, "flash");
  assert.equal(materialized.start.attention, undefined);
  assert.equal(flash.losses.length, 3);
  for (const [i, e] of flash.losses.entries()) {
    // As the model test: float32 softmax sums in another order.
    assert.ok(Math.abs(e.loss - materialized.losses[i].loss) <= 1e-5 * e.loss, `step ${e.step}: ${e.loss}`);
  }
  const bad = await gpt2("train", ...flags, "-o", `${dir}/bad`, "--attention", "sparse");
  assert.equal(bad.code, 2);
  assert.match(oneLine(bad), /--attention: unknown kind 'sparse'; use materialized or flash/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test({
  name: "train --attention flash --device gpu with a head size the kernels do not take: one line before the run starts",
  ignore: !adapter,
  async fn() {
    const { dir, flags } = await tinyRun(); // heads=3, channels=30: head size 10
    const run = await gpt2("train", ...flags, "--device", "gpu", "--attention", "flash", "-o", `${dir}/run`);
    assert.equal(run.code, 1);
    assert.match(oneLine(run), /needs a head size C\/NH that is a multiple of 4 up to 128, not 10/);
    assert.equal(run.stdout, "", "no start line: nothing ran");
    assert.deepEqual([...Deno.readDirSync(`${dir}/run`)], [], "no log or checkpoint left behind");
    await Deno.remove(dir, { recursive: true });
  },
});
