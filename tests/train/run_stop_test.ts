import assert from "node:assert/strict";
import { type ParameterTensors, readCheckpoint, writeCheckpoint } from "../../model/checkpoint.ts";
import { GPT2_EOT } from "../../model/config.ts";
import { parameterSpecs } from "../../model/tensors.ts";
import { writeShard } from "../../prepro/shard.ts";
import { doneSteps, gpt2, oneLine, tinyRun } from "./_cli.ts";

// deno-lint-ignore no-explicit-any
type Event = Record<string, any>;

async function readLog(dir: string): Promise<Event[]> {
  return (await Deno.readTextFile(`${dir}/log.jsonl`)).trim().split("\n").map((l) => JSON.parse(l));
}

/** Each file's name, size and mtime to the millisecond (a second's resolution would miss a rewrite). */
async function listing(dir: string): Promise<string> {
  const entries: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    const info = await Deno.stat(`${dir}/${e.name}`);
    entries.push(`${e.name} ${info.size} ${info.mtime?.getTime()}`);
  }
  return entries.sort().join("\n");
}

Deno.test("train -y 1 with -x at or below the checkpoint's step: says the run is complete, exit 0, trains nothing", async () => {
  const { dir, flags } = await tinyRun();
  assert.equal((await gpt2("train", ...flags, "-x", "4", "-n", "2", "-o", `${dir}/run`)).code, 0);
  const before = await listing(`${dir}/run`);
  for (const x of ["2", "4"]) {
    const run = await gpt2("train", ...flags, "-x", x, "-n", "2", "-y", "1", "-o", `${dir}/run`);
    assert.equal(run.code, 0, run.stderr);
    assert.ok(run.stdout.includes("the run is complete at step 4"), run.stdout);
    assert.ok(!run.stdout.includes("step 5"), "it trained on");
  }
  const checkpoints = (l: string) => l.split("\n").filter((f) => !/^(log\.jsonl|loss\.svg) /.test(f)).join("\n");
  assert.equal(checkpoints(await listing(`${dir}/run`)), checkpoints(before), "checkpoint files changed");
  const extended = await gpt2("train", ...flags, "-x", "6", "-n", "2", "-y", "1", "-o", `${dir}/run`);
  assert.equal(extended.code, 0, extended.stderr);
  assert.deepEqual(doneSteps(`${dir}/run`), [2, 4, 6]);
  assert.ok(extended.stderr.includes("planned for 4 steps"), extended.stderr);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("train -y 1 with another model shape stops with one line saying what differs, leaving the run as it was", async () => {
  const { dir, flags } = await tinyRun();
  assert.equal((await gpt2("train", ...flags, "-x", "2", "-o", `${dir}/run`)).code, 0);
  const before = await listing(`${dir}/run`);
  const cases: [string, string][] = [
    ["layers=2,heads=5,channels=30,seq=16,vocab=97", "heads=3 where -e asks for 5"], // same parameter count
    ["layers=3,heads=3,channels=30,seq=16,vocab=97", "layers=2 where -e asks for 3"],
  ];
  for (const [model, message] of cases) {
    const run = await gpt2("train", ...flags, "-e", model, "-x", "4", "-y", "1", "-o", `${dir}/run`);
    assert.equal(run.code, 2, run.stderr);
    const line = oneLine(run);
    assert.ok(line.includes("model_00000002.bin") && line.includes(message), line);
  }
  assert.equal(await listing(`${dir}/run`), before, "the earlier run's files changed");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a non-finite loss or gradient norm stops the run (exit 1) without checkpointing the broken weights", async () => {
  const { dir, flags } = await tinyRun();
  const run = await gpt2("train", ...flags, "-l", "1e6", "-x", "200", "-n", "1", "-o", `${dir}/run`);
  assert.equal(run.code, 1, run.stderr);
  const line = oneLine(run);
  const named = Number(/step (\d+): .*diverged/.exec(line)?.[1]);
  const events = await readLog(`${dir}/run`);
  // JSON writes NaN and Infinity as null.
  const firstBad = events.find((e) => e.type === "step" && (e.loss === null || e.norm === null));
  assert.ok(firstBad, "the run never diverged: raise -l in this test");
  assert.equal(named, firstBad.step, line);
  const done = doneSteps(`${dir}/run`);
  assert.ok(done.length > 0 && Math.max(...done) < named, `checkpoints ${done} at or after step ${named}`);
  for (const step of done) {
    const { params } = await readCheckpoint(`${dir}/run/model_${String(step).padStart(8, "0")}.bin`);
    for (const [name, values] of Object.entries(params)) {
      assert.ok(values.every(Number.isFinite), `checkpoint ${step}: ${name} holds NaN or Inf`);
    }
  }
  assert.ok(line.includes(`model_${String(Math.max(...done)).padStart(8, "0")}.bin`), line);
  const end = events.at(-1)!;
  assert.equal(end.type, "end");
  assert.equal(end.reason, "diverged");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("log.jsonl stays whole lines when the disk fills; a resume cuts a half line off", async (t) => {
  const { dir, flags } = await tinyRun();
  await t.step("a write error (file size limit) mid-run: one line, exit 1, the log parses", async () => {
    // `ulimit -f` makes writes past 32 KiB fail as on a full disk; SIGXFSZ is ignored so that write() fails instead.
    const cli = new URL("../../cli.ts", import.meta.url).pathname;
    const args = [Deno.execPath(), "run", "-A", cli, "train", ...flags, "-x", "100000", "-o", `${dir}/full`];
    const script = `trap '' XFSZ; ulimit -f 32; exec "$@"`;
    const out = await new Deno.Command("bash", { args: ["-c", script, "bash", ...args] }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 1, stderr);
    assert.ok(oneLine({ code: out.code, stdout: "", stderr }).includes("log.jsonl: cannot write the run log"), stderr);
    const events = await readLog(`${dir}/full`); // throws on a half line
    assert.ok(events.filter((e) => e.type === "step").length > 10);
  });
  await t.step("resume after a half-written line", async () => {
    assert.equal((await gpt2("train", ...flags, "-x", "2", "-o", `${dir}/run`)).code, 0);
    await Deno.writeTextFile(`${dir}/run/log.jsonl`, '{"type":"step","st', { append: true });
    assert.equal((await gpt2("train", ...flags, "-x", "3", "-y", "1", "-o", `${dir}/run`)).code, 0);
    const events = await readLog(`${dir}/run`);
    assert.deepEqual(events.filter((e) => e.type === "step").map((e) => e.step), [1, 2, 3]);
  });
  await Deno.remove(dir, { recursive: true });
});

Deno.test("loss.svg after a resume draws the whole run, not only the resumed steps", async () => {
  const { dir, flags } = await tinyRun();
  assert.equal((await gpt2("train", ...flags, "-x", "6", "-n", "3", "-o", `${dir}/run`)).code, 0);
  await Deno.remove(`${dir}/run/DONE_00000006`); // resume from step 3: steps 4-6 of the log are redone
  assert.equal((await gpt2("train", ...flags, "-x", "10", "-y", "1", "-o", `${dir}/run`)).code, 0);
  const svg = await Deno.readTextFile(`${dir}/run/loss.svg`);
  const train = /stroke="#1f77b4" stroke-width="1.5"[^>]* points="([^"]+)"/.exec(svg);
  assert.ok(train, "no train line");
  const xs = train[1].trim().split(/\s+/).map((p) => Number(p.split(",")[0]));
  assert.equal(xs.length, 10, `train points: ${train[1]}`);
  assert.deepEqual(xs, [...xs].sort((a, b) => a - b), "steps drawn out of order (a redone step twice?)");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("the run ends with an end event; samples never show a literal <|endoftext|>", async () => {
  const { dir, flags } = await tinyRun();
  // A GPT-2-vocabulary model whose logits do not depend on the input: lnf's weight is 0 and its bias 1, so the final
  // hidden state is all ones; wte's EOT row is ln(V-1)/C, so <|endoftext|> gets logit ln(V-1) against 0 for each of
  // the V-1 others: it is sampled half the time. A learning rate of 1e-12 keeps that over the 4 steps.
  const config = { maxSeqLen: 64, vocabSize: 50257, paddedVocabSize: 50304, numLayers: 1, numHeads: 1, channels: 8 };
  const params = Object.fromEntries(
    parameterSpecs(config).map((s) => [s.name, new Float32Array(s.shape.reduce((a, b) => a * b, 1))]),
  ) as ParameterTensors;
  params.lnfb.fill(1);
  params.wte.fill(Math.log(50256) / 8, GPT2_EOT * 8, GPT2_EOT * 8 + 8);
  await writeCheckpoint(`${dir}/eot.bin`, config, params);
  const args = [
    "-e",
    `${dir}/eot.bin`,
    "-t",
    "64",
    "-x",
    "4",
    "-l",
    "1e-12",
    "-s",
    "1",
    "-g",
    "64",
    "--json",
    "-o",
    "",
  ];
  const run = await gpt2("train", ...flags, ...args);
  assert.equal(run.code, 0, run.stderr);
  const events: Event[] = run.stdout.trim().split("\n").map((l) => JSON.parse(l));
  const samples = events.filter((e) => e.type === "sample");
  assert.equal(samples.length, 4);
  for (const s of samples) assert.ok(!s.text.includes("<|endoftext|>"), s.text);
  assert.ok(samples.some((s) => s.text.includes("\n\n")), "no document break shown for a sampled <|endoftext|>");
  const end = events.at(-1)!;
  assert.equal(end.type, "end");
  assert.equal(end.reason, "complete");
  assert.equal(end.step, 4);
  assert.ok(Number.isFinite(end.lastLoss) && end.seconds > 0);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a token outside the model's vocabulary: one line naming the shard and the position, exit 1", async () => {
  const { dir, flags } = await tinyRun();
  const tokens = Array.from({ length: 2000 }, (_, i) => i === 777 ? 200 : i % 97);
  await writeShard(`${dir}/bad_train.bin`, tokens);
  const run = await gpt2("train", ...flags, "-i", `${dir}/bad_train.bin`, "-x", "200", "-o", "");
  assert.equal(run.code, 1, run.stderr);
  const line = oneLine(run);
  assert.ok(line.includes(`${dir}/bad_train.bin`) && line.includes("token 200 at position 777"), line);
  await Deno.remove(dir, { recursive: true });
});
