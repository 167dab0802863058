import assert from "node:assert/strict";
import { readCheckpoint } from "../../model/checkpoint.ts";
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

Deno.test("a second Ctrl-C during the checkpoint write: the file being written completes, exit 130", async () => {
  const { dir, flags } = await tinyRun();
  // A model of 12.6M parameters: its 50 MB model file and 100 MB state file take a while to write and sync.
  const model = "layers=4,heads=4,channels=512,seq=16,vocab=97";
  const run = spawnGpt2("train", ...flags, "-e", model, "-x", "100000", "-n", "2", "--json", "-o", `${dir}/run`);
  let state = "before";
  for await (const line of run.lines()) {
    if (state === "before" && line.includes('"type":"checkpoint","step":2,')) {
      run.child.kill("SIGINT"); // step 3 runs, then checkpoint 3 is written
      state = "first";
      // Wait until a temp file of checkpoint 3 exists, then press Ctrl-C again while it is being written.
      while (![...Deno.readDirSync(`${dir}/run`)].some((e) => e.name.startsWith("model_00000003.bin.tmp-"))) {
        await new Promise((r) => setTimeout(r, 1));
      }
      run.child.kill("SIGINT");
    }
  }
  const status = await run.child.status;
  const stderr = await run.stderr();
  assert.equal(status.code, 130, stderr);
  const last = stderr.trim().split("\n").at(-1)!;
  assert.ok(last.includes("second Ctrl-C while saving step 3"), stderr);
  assert.ok(last.includes("model_00000002.bin"), "the message must name the newest complete checkpoint");
  assert.ok(!stderr.includes("    at "), "stack trace printed");
  assert.deepEqual(doneSteps(`${dir}/run`), [2]);
  const names = [...Deno.readDirSync(`${dir}/run`)].map((e) => e.name);
  assert.deepEqual(names.filter((n) => n.includes(".tmp-")), [], "a half-written temp file was left");
  assert.ok(names.includes("model_00000003.bin"), "the model file being written was not completed");
  await readCheckpoint(`${dir}/run/model_00000003.bin`); // complete and valid (it throws otherwise)
  await Deno.remove(dir, { recursive: true });
});
