/** `gpt2 test` as a child process: one-line errors for `--losses` and `--threads`, and `--json`. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { readCheckpointHeader } from "../../model/checkpoint.ts";
import { readDebugState, writeDebugState } from "../../model/debug_state.ts";
import { LOSSES_TOLERANCE } from "../../model/parity.ts";
import { PARAMETER_NAMES } from "../../model/tensors.ts";
import { assertOneLineError, gpt2, jsonLines, testdata } from "./_cli.ts";
import { withTempDir } from "../_temp.ts";

const MODEL = testdata("awkward", "model.bin");
const STATE = testdata("awkward", "state.bin");

const BAD_LOSSES: [string, string, string][] = [
  // V8 quotes the offending text, newlines included, in its JSON.parse message.
  ["multi-line invalid JSON", "losses:\n  [1, 2,\n  3]\n", "not valid JSON"],
  ["a trailing comma", '{"losses": [1, 2,\n3,]}\n', "not valid JSON"],
  ["no losses array", '{"loss": 4.2}', 'no "losses" array'],
  ["9 losses", JSON.stringify({ losses: Array(9).fill(1) }), '"losses" has 9 entries'],
  ["a string among the losses", JSON.stringify({ losses: [...Array(9).fill(1), "x"] }), "not all numbers"],
  ["null", "null", 'no "losses" array'],
];
for (const [what, text, needle] of BAD_LOSSES) {
  Deno.test(`gpt2 test --losses with ${what}: one line naming the file, exit 1`, async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, "bad.json");
      await Deno.writeTextFile(path, text);
      const r = await gpt2("test", "-m", MODEL, "-s", STATE, "--losses", path);
      assertOneLineError(r, 1, `gpt2 test: ${path}: `, needle, '{"losses": [10 numbers]}');
      assert.equal(r.stdout, "", "something ran before the losses file was checked");
    });
  });
}

Deno.test("gpt2 test --threads above min(4 × cores, 256): exit 2 at once, naming the limit and the cores", async () => {
  const cores = navigator.hardwareConcurrency;
  const max = Math.min(4 * cores, 256);
  const r = await gpt2("test", "-m", MODEL, "-s", STATE, "--threads", String(max + 1));
  assertOneLineError(r, 2, `--threads: at most ${max}`, `${cores} cores`, `got ${max + 1}`);
  assert.equal(r.stdout, "");
  const big = await gpt2("test", "-m", MODEL, "-s", STATE, "--threads", "999");
  assertOneLineError(big, 2, `--threads: at most ${max}`);
  const help = await gpt2("test", "--help");
  assert.match(help.stdout, /--threads <int>\s+CPU threads .*1 to min\(4 × cores, 256\)/);
});

Deno.test("gpt2 test --json: a check per tensor, a step per loss, then end; nothing else on stdout", async () => {
  const losses = testdata("awkward", "expected.json");
  const r = await gpt2("test", "-m", MODEL, "-s", STATE, "--losses", losses, "--json", "--reference");
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const events = jsonLines(r.stdout);
  const checks = events.filter((e) => e.type === "check");
  const steps = events.filter((e) => e.type === "step");
  assert.equal(checks.length + steps.length + 1, events.length, "events other than check, step and end");
  assert.deepEqual(
    checks.map((c) => c.name),
    ["logits", "loss", ...PARAMETER_NAMES.map((n) => `grad ${n}`), "losses"],
  );
  for (const c of checks) {
    assert.equal(typeof c.maxAbsDiff, "number", JSON.stringify(c));
    assert.equal(typeof c.tolerance, "number", JSON.stringify(c));
    assert.equal(c.ok, true, JSON.stringify(c));
  }
  assert.deepEqual(steps.map((s) => s.step), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const expected: number[] = JSON.parse(await Deno.readTextFile(losses)).losses;
  steps.forEach((s, i) => assert.ok(Math.abs((s.loss as number) - expected[i]) <= LOSSES_TOLERANCE, JSON.stringify(s)));
  const end = events[events.length - 1];
  assert.equal(end.type, "end");
  assert.equal(end.ok, true);
  assert.deepEqual(end.failures, []);
});

Deno.test("gpt2 test --json: a failing gradient gives ok: false in its check and in end, exit 1", async () => {
  await withTempDir(async (dir) => {
    const cfg = (await readCheckpointHeader(MODEL)).config;
    const state = await readDebugState(STATE, cfg);
    state.grads.fcb[3] += 1e-3; // 10× the tolerance
    const path = join(dir, "state.bin");
    await writeDebugState(path, cfg, state);
    const r = await gpt2("test", "-m", MODEL, "-s", path, "--json", "--reference");
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const events = jsonLines(r.stdout);
    const failed = events.filter((e) => e.type === "check" && !e.ok).map((e) => e.name);
    assert.deepEqual(failed, ["grad fcb"]);
    const end = events[events.length - 1];
    assert.equal(end.ok, false);
    assert.equal((end.failures as string[]).length, 1);
    assert.match((end.failures as string[])[0], /^grad fcb differs by 1\.000e-3/);
  });
});
