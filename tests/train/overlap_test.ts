import assert from "node:assert/strict";
import { tinyTrainOptions } from "./_cli.ts";
import { StepQueue, type StepResult, StepTimes } from "../../train/step.ts";
import { train, type TrainOptions } from "../../train/trainer.ts";

const adapter = await navigator.gpu?.requestAdapter();

Deno.test("StepQueue: a step started ahead is taken, not started again; a mismatched take throws", async () => {
  const started: number[] = [];
  const queue = new StepQueue((step) => {
    started.push(step);
    return Promise.resolve({ loss: step, norm: 1, lr: 0 } satisfies StepResult);
  });
  const first = queue.take(0);
  queue.startAhead(1);
  assert.deepEqual(started, [0, 1], "step 1 starts before step 0's result is awaited");
  assert.equal((await first).loss, 0);
  assert.equal(queue.ahead, 1);
  assert.equal((await queue.take(1)).loss, 1);
  assert.deepEqual(started, [0, 1], "taking the step started ahead starts nothing");
  assert.equal(queue.ahead, undefined);
  queue.startAhead(3);
  assert.throws(() => queue.take(2), /step 3 was started ahead, not 2/);
});

Deno.test("StepQueue: a step started ahead that fails and is never taken is not an unhandled rejection", async () => {
  const queue = new StepQueue((step) =>
    step === 1 ? Promise.reject(new Error("lost device")) : Promise.resolve({
      loss: 0,
      norm: 1,
      lr: 0,
    })
  );
  await queue.take(0);
  queue.startAhead(1); // the run stops here (say, a NaN loss at step 0) and never takes step 1
  await new Promise((resolve) => setTimeout(resolve, 10)); // Deno fails the test on an unhandled rejection
  await assert.rejects(queue.take(1), /lost device/);
});

Deno.test({
  name: "train --device gpu: steps started ahead (nothing between them) give the losses of steps run one by one",
  ignore: !adapter,
  async fn() {
    const dir = await Deno.makeTempDir();
    const base: TrainOptions = {
      ...await tinyTrainOptions(dir),
      maxSteps: 6,
      valEvery: 0,
      sampleEvery: 0,
      checkpointEvery: 0,
      resume: false,
      device: "gpu",
    };
    // Count the steps the trainer starts ahead.
    const startAhead = StepQueue.prototype.startAhead;
    let ahead = 0;
    StepQueue.prototype.startAhead = function (step: number) {
      ahead++;
      startAhead.call(this, step);
    };
    const run = async (o: TrainOptions) => {
      const seen: number[] = [];
      const log = console.log;
      console.log = () => {};
      try {
        await train({ ...o, onStep: (_, loss) => seen.push(loss) });
      } finally {
        console.log = log;
      }
      return seen;
    };
    try {
      const overlapped = await run({ ...base, outDir: `${dir}/a` });
      assert.equal(ahead, 5, "steps 2-6 start while the step before them runs");
      ahead = 0;
      // A val loss after every step: something runs between every two steps, so none starts ahead.
      const oneByOne = await run({ ...base, outDir: `${dir}/b`, valEvery: 1 });
      assert.equal(ahead, 0);
      assert.equal(overlapped.length, 6);
      for (let i = 0; i < 6; i++) {
        assert.ok(Object.is(overlapped[i], oneByOne[i]), `step ${i + 1}: ${overlapped[i]} vs ${oneByOne[i]}`);
      }
      // With dynamic loss scaling the next step's scale depends on this step's gradients: no step starts ahead.
      ahead = 0;
      await run({ ...base, outDir: `${dir}/c`, lossScale: {} });
      assert.equal(ahead, 0);
    } finally {
      StepQueue.prototype.startAhead = startAhead;
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("StepTimes: a step alone takes start to result; overlapped ones the mean of the last results' intervals", () => {
  const t = new StepTimes(3);
  t.restart(0);
  assert.equal(t.done(4000), 4000); // the first step, with its shader compiles
  // Started ahead: 4430, 4870 (a late result), 4880 (the next, in the same burst), 5300, 5730. The first step's 4 s
  // are in none of their times.
  assert.equal(t.done(4430), 430);
  assert.equal(t.done(4870), 435);
  assert.equal(t.done(4880), 880 / 3);
  assert.equal(t.done(5300), (5300 - 4430) / 3); // the window (3 intervals) slides
  assert.equal(t.done(5730), (5730 - 4870) / 3);
  t.restart(9000); // after a val pass: a step not started ahead
  assert.equal(t.done(9450), 450);
  assert.equal(t.done(9880), 430);
});
