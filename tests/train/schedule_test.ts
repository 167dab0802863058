import assert from "node:assert/strict";
import { learningRateAt, parseScheduleKind, type ScheduleOptions } from "../../train/schedule.ts";
import { UsageError } from "../../util/errors.ts";

const base = { learningRate: 6e-4, warmupSteps: 10, finalFraction: 0.1, totalSteps: 110 };
const close = (a: number, b: number) => assert.ok(Math.abs(a - b) <= 1e-12, `${a} != ${b}`);

Deno.test("schedules: warmup is linear and ends at the peak for every kind", () => {
  for (const kind of ["cosine", "linear", "constant", "wsd"] as const) {
    const o: ScheduleOptions = { kind, ...base };
    close(learningRateAt(0, o), 6e-5); // lr·1/10
    close(learningRateAt(9, o), 6e-4); // warmup end = peak
  }
});

Deno.test("schedules: middle and last step", () => {
  // After warmup, r = (step - 10) / 99 runs from 0 to 1 over steps 10..109.
  const cosine: ScheduleOptions = { kind: "cosine", ...base };
  close(learningRateAt(10, cosine), 6e-4);
  close(learningRateAt(59, cosine), 6e-5 + 0.5 * (1 + Math.cos(Math.PI * 49 / 99)) * 5.4e-4);
  close(learningRateAt(109, cosine), 6e-5); // the final fraction at the last step
  const linear: ScheduleOptions = { kind: "linear", ...base };
  close(learningRateAt(59, linear), 6e-4 - (49 / 99) * 5.4e-4);
  close(learningRateAt(109, linear), 6e-5);
  const constant: ScheduleOptions = { kind: "constant", ...base };
  close(learningRateAt(109, constant), 6e-4);
  // wsd: stable at the peak until the last 20% (22 steps), then 1 - sqrt decay to the final fraction.
  const wsd: ScheduleOptions = { kind: "wsd", ...base };
  close(learningRateAt(87, wsd), 6e-4);
  close(learningRateAt(88, wsd), 6e-4); // decay starts here (r = 0)
  close(learningRateAt(109, wsd), 6e-5);
  assert.ok(learningRateAt(100, wsd) < 6e-4 && learningRateAt(100, wsd) > 6e-5);
});

Deno.test("schedules: an unknown -k is a usage error", () => {
  assert.throws(() => parseScheduleKind("step"), UsageError);
});
