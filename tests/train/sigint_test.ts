import assert from "node:assert/strict";
import { type ParameterTensors, readCheckpoint } from "../../model/checkpoint.ts";
import { parameterSpecs } from "../../model/tensors.ts";
import { saveCheckpoint } from "../../train/checkpoints.ts";
import { doneSteps, spawnGpt2, tinyRun } from "./_cli.ts";

Deno.test("Ctrl-C: says so, skips the pending val loss and sample, writes a checkpoint and exits 0", async () => {
  const { dir, flags } = await tinyRun();
  // Val loss and a sample are due at every step, so the step after Ctrl-C would run both if they were not skipped.
  const args = ["-x", "100000", "-v", "1", "-m", "2", "-s", "1", "-g", "4", "--json", "-o", `${dir}/run`];
  const run = spawnGpt2("train", ...flags, ...args);
  const lines: string[] = [];
  let signalled = false;
  for await (const line of run.lines()) {
    lines.push(line);
    if (!signalled && line.includes('"type":"step","step":3,')) {
      run.child.kill("SIGINT");
      signalled = true;
    }
  }
  const status = await run.child.status;
  const stderr = await run.stderr();
  assert.equal(status.code, 0, stderr);
  assert.ok(stderr.includes("Ctrl-C: finishing this step, then saving a checkpoint"), stderr);
  const events = lines.map((l) => JSON.parse(l));
  const saved = events.find((e) => e.type === "checkpoint");
  assert.ok(saved, "no checkpoint written on Ctrl-C");
  assert.ok(saved.step >= 3 && saved.step < 100000);
  assert.deepEqual(doneSteps(`${dir}/run`), [saved.step]);
  const late = events.filter((e) => (e.type === "val" || e.type === "sample") && e.step >= saved.step);
  assert.deepEqual(late, [], "val loss or sample ran after Ctrl-C");
  assert.ok(events.some((e) => e.type === "info" && String(e.message).startsWith("interrupted")));
  assert.equal(events.at(-1).reason, "interrupted");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a second Ctrl-C: the file being written completes, no half checkpoint, exit 130", async () => {
  const { dir, flags } = await tinyRun();
  // A model of 12.6M parameters: its 50 MB model file and 100 MB state file take a while to write and sync, so the
  // second Ctrl-C lands before or during the checkpoint's save (the two cases below), never after it.
  const model = "layers=4,heads=4,channels=512,seq=16,vocab=97";
  const run = spawnGpt2("train", ...flags, "-e", model, "-x", "100000", "-n", "2", "--json", "-o", `${dir}/run`);
  for await (const line of run.lines()) {
    if (line.includes('"type":"checkpoint","step":2,')) {
      run.child.kill("SIGINT"); // the step under way finishes, then its checkpoint is due
      await run.stderrShows("Ctrl-C: finishing this step"); // seen: now the second one counts as a second
      run.child.kill("SIGINT");
    }
  }
  const status = await run.child.status;
  const stderr = await run.stderr();
  assert.equal(status.code, 130, stderr);
  const last = stderr.trim().split("\n").at(-1)!;
  // The first Ctrl-C is seen between steps: after step 3, or after step 4 when step 3 had already begun.
  const step = Number(/second Ctrl-C while saving step (\d+)/.exec(last)?.[1]);
  assert.ok(step === 3 || step === 4, stderr);
  assert.ok(last.includes("model_00000002.bin"), "the message must name the newest complete checkpoint");
  assert.ok(!stderr.includes("    at "), "stack trace printed");
  assert.deepEqual(doneSteps(`${dir}/run`), [2]);
  const names = [...Deno.readDirSync(`${dir}/run`)].map((e) => e.name);
  assert.deepEqual(names.filter((n) => n.includes(".tmp-")), [], "a half-written temp file was left");
  // Either the second Ctrl-C came before the save began (nothing of that step written) or during the model file's
  // write (that file completed, nothing after it): in both cases every file present is whole.
  const modelFile = `model_${String(step).padStart(8, "0")}.bin`;
  const stateFile = `state_${String(step).padStart(8, "0")}.bin`;
  if (names.includes(modelFile)) await readCheckpoint(`${dir}/run/${modelFile}`);
  assert.ok(!names.includes(stateFile) || names.includes(modelFile));
  await Deno.remove(dir, { recursive: true });
});

Deno.test("saveCheckpoint stops between files when asked: the file in progress completes, the marker is never written", async () => {
  const dir = await Deno.makeTempDir();
  const config = { maxSeqLen: 4, vocabSize: 8, paddedVocabSize: 128, numLayers: 1, numHeads: 1, channels: 4 };
  const params = Object.fromEntries(
    parameterSpecs(config).map((s) => [s.name, new Float32Array(s.shape.reduce((a, b) => a * b, 1)).fill(0.5)]),
  ) as ParameterTensors;
  const n = parameterSpecs(config).reduce((t, s) => t + s.shape.reduce((a, b) => a * b, 1), 0);
  const data = { config, params, m: new Float32Array(n), v: new Float32Array(n), meta: { step: 1 } };
  const asked: string[] = [];
  // Asked before each file: go on for the model file, then stop (a second Ctrl-C during the model file's write).
  const stops = [false, true];
  const complete = await saveCheckpoint(dir, 1, data, () => (asked.push("ask"), stops[asked.length - 1] ?? true));
  assert.equal(complete, false);
  assert.equal(asked.length, 2, "asked before the model file and after it");
  const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
  assert.deepEqual(names, ["model_00000001.bin"]);
  const { params: read } = await readCheckpoint(`${dir}/model_00000001.bin`);
  assert.ok(read.wte.every((x) => x === 0.5), "the model file is whole");
  assert.equal(await saveCheckpoint(dir, 2, data, () => true), false);
  assert.ok(!names.includes("DONE_00000002") && !existsSync(`${dir}/model_00000002.bin`), "stopped before writing");
  await Deno.remove(dir, { recursive: true });
});

function existsSync(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}
