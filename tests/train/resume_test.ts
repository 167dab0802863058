import assert from "node:assert/strict";
import { type TinyTrainOptions, tinyTrainOptions } from "./_cli.ts";
import { train, type TrainOptions } from "../../train/trainer.ts";

const adapter = await navigator.gpu?.requestAdapter();

/** A tiny model and random token files, so each run takes well under a second per step. */
async function setup(): Promise<{ dir: string; base: TinyTrainOptions }> {
  const dir = await Deno.makeTempDir();
  // two micro-batches per step: gradient accumulation is part of what resumes
  return { dir, base: await tinyTrainOptions(dir) };
}

async function losses(o: TrainOptions): Promise<Map<number, number>> {
  const seen = new Map<number, number>();
  const log = console.log;
  console.log = () => {}; // the run's JSON lines are not this test's output
  try {
    await train({ ...o, onStep: (step, loss) => seen.set(step, loss) });
  } finally {
    console.log = log;
  }
  return seen;
}

for (
  const [device, precision] of [["cpu", "fp32"], ["gpu", "fp32"], ["cpu", "f16"], ["gpu", "f16"]] as const
) {
  Deno.test({
    name: `train -y 1 on ${device}${
      precision === "f16" ? " --precision f16" : ""
    }: losses after resuming are bit-identical to an uninterrupted run`,
    ignore: device === "gpu" && !adapter,
    async fn() {
      const setUp = await setup();
      // f16: the checkpoint holds the float32 masters; the resumed run rebuilds the f16 copy from them.
      const [dir, base] = [setUp.dir, { ...setUp.base, precision }];
      const whole = await losses({ ...base, device, outDir: `${dir}/whole`, maxSteps: 7, resume: false });
      // The interrupted run stops after step 4 (checkpoints at 3 and 4); drop step 4's DONE marker so the resume
      // must skip the incomplete newest checkpoint and restart from step 3.
      await losses({ ...base, device, outDir: `${dir}/split`, maxSteps: 4, resume: false });
      await Deno.remove(`${dir}/split/DONE_00000004`);
      const resumed = await losses({ ...base, device, outDir: `${dir}/split`, maxSteps: 7, resume: true });
      assert.deepEqual([...resumed.keys()], [4, 5, 6, 7]);
      for (const [step, loss] of resumed) {
        assert.ok(Object.is(loss, whole.get(step)), `step ${step}: ${loss} after resume, ${whole.get(step)} without`);
      }
      await Deno.remove(dir, { recursive: true });
    },
  });
}

Deno.test("train -y 1 skips a corrupt newest checkpoint with a warning on stderr", async () => {
  const { dir, base } = await setup();
  await losses({ ...base, outDir: `${dir}/run`, maxSteps: 6, resume: false });
  const model = `${dir}/run/model_00000006.bin`;
  const bytes = await Deno.readFile(model);
  await Deno.writeFile(model, bytes.subarray(0, bytes.length - 100)); // truncated, yet its DONE marker exists
  const stdout: string[] = [], stderr: string[] = [];
  const { log, error } = console;
  console.log = (line: string) => stdout.push(line);
  console.error = (line: string) => stderr.push(line);
  try {
    await train({ ...base, outDir: `${dir}/run`, maxSteps: 6, resume: true });
  } finally {
    Object.assign(console, { log, error });
  }
  assert.ok(stderr.some((l) => l.includes("skipping checkpoint 6")), "no warning about the corrupt checkpoint");
  assert.ok(!stdout.some((l) => l.includes("skipping checkpoint")), "the warning went into the step lines");
  assert.ok(stdout.some((l) => l.includes("model_00000003.bin")), "did not resume from step 3");
  await Deno.remove(dir, { recursive: true });
});

/** A run's step events (JSON lines), its printing silenced. */
async function stepEvents(o: TrainOptions): Promise<Record<string, number | boolean>[]> {
  const events: Record<string, number | boolean>[] = [];
  const log = console.log;
  console.log = (line: string) => {
    const e = JSON.parse(line);
    if (e.type === "step") events.push(e);
  };
  try {
    await train(o);
  } finally {
    console.log = log;
  }
  return events;
}

for (const device of ["cpu", "gpu"] as const) {
  Deno.test({
    name:
      `train --loss-scale dynamic on ${device}: fp32 losses bit-identical to unscaled; an overflow skips and halves; ` +
      `resume continues the scale`,
    ignore: device === "gpu" && !adapter,
    async fn() {
      const { dir, base } = await setup();
      const run = { ...base, device, valEvery: 0, sampleEvery: 0, maxSteps: 6, resume: false };
      // Powers of two scale exactly in float32: the scaled run trains the same weights, step for step.
      const plain = await losses({ ...run, outDir: `${dir}/plain` });
      const scaled = await stepEvents({ ...run, outDir: `${dir}/scaled`, lossScale: {} });
      assert.deepEqual(scaled.map((e) => e.loss), [...plain.values()]);
      assert.ok(scaled.every((e) => e.lossScale === 2 ** 16 && e.skipped === false));
      // 2⁸⁰ overflows Σ grad² (a gradient norm of ~1 times 2⁸⁰ squared is beyond float32): each overflow skips the
      // step (the weights stay: the loss of the next step is the same) and halves the scale until it fits.
      // 2⁶⁶ overflows Σ grad² (a gradient norm above 1/4, times 2⁶⁶, squared, is beyond float32): each overflow
      // skips its step and halves the scale, until 2⁶³ fits; then the steps apply (AdamW counting from 1).
      const forcedRun = { ...run, lossScale: { initial: 2 ** 66 } };
      const forced = await stepEvents({ ...forcedRun, outDir: `${dir}/forced` });
      assert.deepEqual(forced.map((e) => e.skipped), [true, true, true, false, false, false]);
      assert.deepEqual(forced.map((e) => Math.log2(e.lossScale as number)), [65, 64, 63, 63, 63, 63]);
      assert.equal(forced.at(-1)!.skippedSteps, 3);
      assert.ok(forced.every((e) => Number.isFinite(e.loss)) && forced.slice(3).every((e) => Number.isFinite(e.norm)));
      // Stopped after step 4 (checkpoints at 3 and 4; the newest made incomplete) and resumed from step 3: the scale
      // and the skipped count come back with the checkpoint, so the losses are the uninterrupted run's.
      await stepEvents({ ...forcedRun, maxSteps: 4, outDir: `${dir}/split`, checkpointEvery: 3 });
      await Deno.remove(`${dir}/split/DONE_00000004`);
      const resumed = await stepEvents({ ...forcedRun, outDir: `${dir}/split`, checkpointEvery: 3, resume: true });
      assert.deepEqual(resumed.map((e) => e.step), [4, 5, 6]);
      resumed.forEach((e, i) => assert.ok(Object.is(e.loss, forced[3 + i].loss), `step ${e.step} after resume`));
      await assert.rejects(
        () => stepEvents({ ...run, maxSteps: 7, outDir: `${dir}/split`, checkpointEvery: 3, resume: true }),
        /was trained with --loss-scale dynamic; resume the same way/,
      );
      await Deno.remove(dir, { recursive: true });
    },
  });
}
