import assert from "node:assert/strict";
import { parseModelDescriptor } from "../../model/config.ts";
import { createCpuModel } from "../../model/cpu_model.ts";
import { createGpuModel, gpuModelBytes, largestBatch, whatFits } from "../../model/gpu_model.ts";
import { randomParameters } from "../../model/init.ts";
import { planModel } from "../../model/layout.ts";
import { UserError } from "../../util/errors.ts";
import { adapterAvailable } from "../gpu/_helpers.ts";
import { writeShard } from "../../prepro/shard.ts";
import { gpt2, oneLine, tinyRun } from "../train/_cli.ts";

const d12 = parseModelDescriptor("d12")!;
const tiny = parseModelDescriptor("layers=2,heads=2,channels=16,seq=8,vocab=50")!;
const HYPER = { learningRate: 1e-3, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0 };

Deno.test("largestBatch: the batch it names fits the capacity and one more does not", () => {
  for (const gib of [3, 19.8, 80, 141]) {
    const capacity = gib * 2 ** 30;
    const B = largestBatch(d12, 1024, capacity);
    assert.ok(B > 0, `${gib} GiB holds d12 at B=1`);
    assert.ok(gpuModelBytes(d12, B, 1024) <= capacity, `B=${B} fits ${gib} GiB`);
    assert.ok(gpuModelBytes(d12, B + 1, 1024) > capacity, `B=${B + 1} does not fit ${gib} GiB`);
  }
  assert.equal(largestBatch(d12, 1024, gpuModelBytes(d12, 1, 1024) - 1), 0);
});

Deno.test("whatFits: one line with the need, the capacity and the batch that fits", () => {
  const line = whatFits(d12, 64, 1024, 20 * 2 ** 30, "this GPU had");
  assert.ok(!line.includes("\n"));
  assert.match(line, /-b 64 -t 1024 needs 66\.\d GiB/);
  assert.match(line, /this GPU had 20\.0 GiB: -b (\d+) fits at -t 1024/);
  const B = Number(line.match(/-b (\d+) fits/)![1]);
  assert.equal(B, largestBatch(d12, 1024, 20 * 2 ** 30));
});

Deno.test("train --device gpu: a model too big for the adapter stops in one line saying what fits, exit 1", async () => {
  const { dir } = await tinyRun();
  // 70,000 tokens: enough for B=64 at T=1024 to pass the data check and reach the model.
  const tokens = Array.from({ length: 70000 }, (_, i) => (i * 7919) % 97);
  await writeShard(`${dir}/big.bin`, tokens);
  const flags = ["-i", `${dir}/big.bin`, "-j", `${dir}/t_val.bin`, "-v", "0", "-s", "0", "--device", "gpu"];
  flags.push("-o", `${dir}/out`); // never the default out/ of whatever directory the tests run in
  const run = await gpt2("train", ...flags, "-e", "d48", "-b", "64", "-t", "1024");
  assert.equal(run.code, 1, run.stderr);
  const line = oneLine(run);
  // d48 at B=64 plans ~398 GiB: more than any machine this runs on.
  assert.match(line, /a 48-layer, 1600-channel model at -b 64 -t 1024 needs 39\d\.\d GiB of GPU memory/);
  assert.match(line, /(-b \d+ fits at -t 1024|not even -b 1 fits)/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("an inference model plans no gradients, AdamW state or activation gradients", () => {
  const layout = planModel(d12, 1, 1024, 64);
  const P = layout.params.totalElements;
  const saved = gpuModelBytes(d12, 1, 1024) - gpuModelBytes(d12, 1, 1024, { training: false });
  assert.equal(saved, 4 * (3 * P + layout.gradActs.totalElements));
  assert.match(
    whatFits(d12, 4, 1024, 2 ** 30, "this GPU had", { training: false }),
    /at 4 × 1024 positions needs .* for the weights \(inference only\).*: not even one sequence of 1024 positions fits/,
  );
});

for (
  const [name, create, ignore] of [
    ["cpu", (training: boolean) => createCpuModel(tiny, 2, 8, { training }), false],
    ["gpu", (training: boolean) => createGpuModel(tiny, 2, 8, { training }), !adapterAvailable],
  ] as const
) {
  Deno.test({
    name: `inference model (${name}): the training model's logits; backward, zeroGrad and update refuse in one line`,
    ignore,
    async fn() {
      const [train, infer] = [await create(true), await create(false)];
      try {
        for (const [p, data] of randomParameters(tiny, 7)) {
          train.writeParameter(p, data);
          infer.writeParameter(p, data);
        }
        const inputs = Int32Array.from({ length: 16 }, (_, i) => (i * 5) % tiny.vocabSize);
        train.forward(inputs);
        infer.forward(inputs, inputs);
        // Same weights, same kernels: bit-identical logits.
        assert.deepEqual(await infer.readLogits(), await train.readLogits());
        assert.equal(train.trainable, true);
        assert.equal(infer.trainable, false);
        const refused = /built for inference only: it has no gradients or optimizer state/;
        assert.throws(() => infer.backward(), (e) => e instanceof UserError && refused.test(e.message));
        assert.throws(() => infer.zeroGrad(), refused);
        await assert.rejects(() => infer.update({ ...HYPER, step: 1 }), refused);
      } finally {
        train.close();
        infer.close();
      }
    },
  });
}
