import assert from "node:assert/strict";
import { RunClock, type RunSchedule, scheduled } from "../../train/eta.ts";

const DEFAULTS: RunSchedule = {
  maxSteps: 100,
  valEvery: 20,
  sampleEvery: 20,
  checkpointEvery: 0,
  checkpoints: true,
  valBatches: 20,
  genTokens: 64,
};

Deno.test("scheduled: every N steps and once more at the end unless the end is a multiple", () => {
  assert.equal(scheduled(1, 100, 20), 5); // 20 40 60 80 100
  assert.equal(scheduled(1, 90, 20), 5); // 20 40 60 80 + 90
  assert.equal(scheduled(21, 100, 20), 4);
  assert.equal(scheduled(1, 100, 0), 1); // only the end
  assert.equal(scheduled(101, 100, 20), 0);
  assert.equal(scheduled(100, 100, 7), 1);
});

Deno.test("ETA counts the val losses, samples and checkpoints still to come, not only the steps", () => {
  const clock = new RunClock(DEFAULTS);
  clock.record("val", 2000); // 20 batches: 100 ms per forward pass
  clock.record("step", 300);
  // After step 1: 99 steps, val at 20..100 (5), samples at 20..100 (5, of 63 forwards each), no checkpoint timed.
  const expected = (99 * 300 + 5 * 2000 + 5 * 63 * 100) / 1000;
  assert.ok(Math.abs(clock.secondsLeft(1) - expected) < 1e-9, `${clock.secondsLeft(1)} vs ${expected}`);
  clock.record("sample", 5000);
  clock.record("checkpoint", 1500);
  const measured = (80 * 300 + 4 * 2000 + 4 * 5000 + 1500) / 1000;
  assert.ok(Math.abs(clock.secondsLeft(20) - measured) < 1e-9, `${clock.secondsLeft(20)} vs ${measured}`);
  // Val and samples are most of the remaining time here, as with the defaults on a small model.
  assert.ok(clock.secondsLeft(20) > 2 * (80 * 300) / 1000);
});

Deno.test("ETA: nothing left at the last step; NaN before any step was timed; steps averaged", () => {
  const clock = new RunClock({ ...DEFAULTS, valEvery: 0, sampleEvery: 0, checkpoints: false });
  assert.ok(Number.isNaN(clock.secondsLeft(0)));
  clock.record("step", 100);
  clock.record("step", 200); // 0.9 · 100 + 0.1 · 200
  assert.ok(Math.abs(clock.secondsLeft(98) - 2 * 0.11) < 1e-9);
  assert.equal(clock.secondsLeft(100), 0);
});
