import assert from "node:assert/strict";
import { join } from "node:path";
import { evalCommand } from "../../commands/eval.ts";
import { CpuKernels } from "../../cpu/kernels.ts";
import { createCpuModel } from "../../model/cpu_model.ts";
import { loadParameters, resolveModelSource } from "../../model/source.ts";
import { encodeEvalFile, readEvalFile } from "../../prepro/hellaswag.ts";
import { checkExamplesFit, evalSequenceLength, evaluateHellaswag } from "../../train/hellaswag.ts";
import { UsageError, UserError } from "../../util/errors.ts";
import { withTempDir } from "../_temp.ts";
import { assertOneLineError, gpt2, jsonLines, testdata } from "./_cli.ts";

const FIXTURE = testdata("hellaswag", "mini_val.bin");
const MODEL = "layers=2,heads=2,channels=32,seq=64";

Deno.test("gpt2 eval hellaswag --json: the evaluator's acc and acc_norm as one JSON line, progress on stderr", async () => {
  const r = await gpt2("eval", "hellaswag", "-e", MODEL, "--data", FIXTURE, "--device", "cpu", "--json", "-b", "2");
  assert.equal(r.code, 0, r.stderr);
  const lines = jsonLines(r.stdout);
  assert.equal(lines.length, 1);
  assert.deepEqual(Object.keys(lines[0]), ["acc", "acc_norm", "n"]);
  assert.match(r.stderr, /eval hellaswag: 6 examples from .*mini_val\.bin, 2 per forward pass \(B=8, T=\d+\)/);
  assert.match(r.stderr, /eval hellaswag: 6\/6 examples, acc_norm [\d.]+, [\d.]+ examples\/s, [\d.]+ s\n$/);
  // The same random model (seed 0) evaluated in this process.
  const source = await resolveModelSource(MODEL);
  const kernels = (memory: WebAssembly.Memory) => CpuKernels.create(memory, 2);
  const examples = await readEvalFile(FIXTURE);
  const T = evalSequenceLength(checkExamplesFit(examples, source.config, FIXTURE), source.config);
  const model = await createCpuModel(source.config, 8, T, { training: false, kernels });
  await loadParameters(model, source, 0);
  const want = await evaluateHellaswag(model, examples);
  model.close();
  assert.deepEqual(lines[0], { acc: want.acc, acc_norm: want.accNorm, n: 6 });
});

Deno.test("gpt2 eval hellaswag: text result on stdout; -n evaluates the first examples", async () => {
  const r = await gpt2("eval", "hellaswag", "-e", MODEL, "--data", FIXTURE, "--device", "cpu", "-n", "5");
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^hellaswag: 5 examples, acc [\d.]+ \(\d\/5\), acc_norm [\d.]+ \(\d\/5\)\n$/);
});

Deno.test("gpt2 eval hellaswag: a bad file is one line naming it, exit 1", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "bad.bin");
    const bytes = (await Deno.readFile(FIXTURE)).slice();
    new DataView(bytes.buffer).setInt32(0, 7, true);
    await Deno.writeFile(path, bytes);
    const r = await gpt2("eval", "hellaswag", "-e", MODEL, "--data", path, "--device", "cpu");
    assertOneLineError(r, 1, `gpt2 eval: ${path}: bad magic number 7, expected 20240522`);
  });
});

/** Runs the command in this process and returns the UserError it throws. */
async function failure(...argv: string[]): Promise<UserError> {
  try {
    await evalCommand.run(argv);
  } catch (err) {
    if (err instanceof UserError) return err;
    throw err;
  }
  throw new Error(`gpt2 eval ${argv.join(" ")} did not fail`);
}

Deno.test("gpt2 eval: each bad file, model or flag gets its own message", async () => {
  await withTempDir(async (dir) => {
    const good = await Deno.readFile(FIXTURE);
    const file = async (name: string, bytes: Uint8Array) => {
      await Deno.writeFile(join(dir, name), bytes);
      return join(dir, name);
    };
    const word = (w: number, value: number) => {
      const b = good.slice();
      new DataView(b.buffer).setUint16(1024 + 2 * w, value, true);
      return b;
    };
    const run = (data: string, ...more: string[]) => failure("hellaswag", "-e", MODEL, "--data", data, ...more);
    const cases: [Promise<UserError>, RegExp][] = [
      [run(await file("short.bin", good.slice(0, 1500))), /short\.bin: truncated: example \d \(byte \d+\) runs past/],
      [run(await file("five.bin", word(4, 5))), /five\.bin: example 0 \(byte 1024\) has 5 endings/],
      [run(await file("label.bin", word(3, 7))), /label\.bin: example 0 \(byte 1024\): label 7 is out of range/],
      [run(join(dir, "none.bin")), /none\.bin: no such eval file; make it with 'gpt2 prepro hellaswag'/],
      [
        failure("hellaswag", "-e", "layers=1,heads=1,channels=8,seq=8", "--data", FIXTURE),
        /mini_val\.bin: example 0 needs \d+ positions \(.*\), longer than the model's context of 8/,
      ],
      [
        failure("hellaswag", "-e", "layers=1,heads=1,channels=8,seq=64,vocab=300", "--data", FIXTURE),
        /mini_val\.bin: example 0 holds token \d+, outside the model's vocabulary of 300/,
      ],
      [
        run(await file("empty.bin", encodeEvalFile([]))),
        /empty\.bin: holds no examples/,
      ],
    ];
    for (const [error, pattern] of cases) {
      const err = await error;
      assert.equal(err.exitCode, 1, err.message);
      assert.match(err.message, pattern);
      assert.ok(!err.message.includes("\n"));
    }
    for (
      const [argv, pattern] of [
        [["mmlu", "-e", MODEL], /Unknown eval 'mmlu'; known evals: hellaswag/],
        [[], /Missing eval; one of: hellaswag/],
        [["hellaswag"], /-e: give a model/],
        [["hellaswag", "-e", MODEL, "-b", "0"], /-b: must be an integer >= 1, got 0/],
        [["hellaswag", "-e", MODEL, "--device", "tpu"], /--device: unknown device 'tpu'/],
        [["hellaswag", "extra", "-e", MODEL], /Unexpected argument 'extra'/],
      ] as [string[], RegExp][]
    ) {
      const err = await failure(...argv);
      assert.ok(err instanceof UsageError, err.message);
      assert.match(err.message, pattern);
    }
  });
});
