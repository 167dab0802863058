import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { CpuKernels } from "../../cpu/kernels.ts";
import { type GPT2Config, parseModelDescriptor } from "../../model/config.ts";
import { createCpuModel } from "../../model/cpu_model.ts";
import type { GPT2 } from "../../model/gpt2.ts";
import { createGpuModel } from "../../model/gpu_model.ts";
import { randomParameters } from "../../model/init.ts";
import { encodeEvalFile, type EvalExample, readEvalFile } from "../../prepro/hellaswag.ts";
import {
  checkExamplesFit,
  evalSequenceLength,
  evaluateHellaswag,
  HellaswagProbe,
  type HellaswagResult,
} from "../../train/hellaswag.ts";
import { train, type TrainOptions } from "../../train/trainer.ts";
import { openModel } from "../../model/source.ts";
import { UserError } from "../../util/errors.ts";
import { gpt2, oneLine, tinyRun, type TinyTrainOptions, tinyTrainOptions } from "./_cli.ts";
import { adapterAvailable } from "../gpu/_helpers.ts";
import { rng } from "../_random.ts";
import { withTempDir } from "../_temp.ts";

const FIXTURE = fileURLToPath(new URL("../testdata/hellaswag/mini_val.bin", import.meta.url));
const GPT2_SHAPE = parseModelDescriptor("layers=2,heads=2,channels=32,seq=64")!;
const SMALL_SHAPE = parseModelDescriptor("layers=2,heads=3,channels=30,seq=40,vocab=97")!;

// deno-lint-ignore no-explicit-any
type AnyModel = GPT2<any, any>;

/** Random init with wte scaled ×20, so logits spread (std ≈ 2) and the endings' losses are far from ties. */
function parameters(cfg: GPT2Config, seed: number): [string, Float32Array][] {
  return [...randomParameters(cfg, seed)].map((
    [name, data],
  ) => [name, name === "wte" ? data.map((x) => 20 * x) : data]);
}

function load(model: AnyModel, cfg: GPT2Config, seed: number): AnyModel {
  for (const [name, data] of parameters(cfg, seed)) model.writeParameter(name as "wte", data);
  return model;
}

/**
 * The reference: hellaswag.py's loss, one completion per forward pass on a one-row CPU model (the scalar reference
 * layers; `fast`: the WebAssembly kernels, for GPT-2's vocabulary). The row
 * is context + ending; position i predicts token i + 1; the ending's tokens are predicted at positions
 * context - 1 … context + ending - 2. Sums in float64 on the host.
 */
async function referenceLosses(cfg: GPT2Config, seed: number, examples: EvalExample[], fast = false) {
  const T = evalSequenceLength(checkExamplesFit(examples, cfg, "ref"), cfg);
  const kernels = fast ? (memory: WebAssembly.Memory) => CpuKernels.create(memory, 2) : undefined;
  const model = load(await createCpuModel(cfg, 1, T, { training: false, kernels }), cfg, seed);
  const out: { sum: number[]; mean: number[] }[] = [];
  for (const e of examples) {
    const sum: number[] = [];
    for (const ending of e.endings) {
      const row = [...e.context, ...ending];
      const inputs = new Int32Array(T), targets = new Int32Array(T);
      for (let i = 0; i + 1 < row.length; i++) [inputs[i], targets[i]] = [row[i], row[i + 1]];
      model.forward(inputs, targets);
      const losses = await model.exec.read(model.tensors.acts.losses);
      let s = 0;
      for (let i = e.context.length - 1; i < row.length - 1; i++) s += losses[i];
      sum.push(s);
    }
    out.push({ sum, mean: sum.map((s, c) => s / e.endings[c].length) });
  }
  model.close();
  const argmin = (a: number[]) => a.indexOf(Math.min(...a));
  const acc = out.filter((r, i) => argmin(r.sum) === examples[i].label).length / examples.length;
  const accNorm = out.filter((r, i) => argmin(r.mean) === examples[i].label).length / examples.length;
  return { losses: out, acc, accNorm };
}

type Reference = Awaited<ReturnType<typeof referenceLosses>>;

/** Same accuracies, and every summed and mean loss within atol + rtol·|ref|. */
function assertMatches(got: HellaswagResult, ref: Reference, atol: number, rtol: number) {
  assert.equal(got.n, ref.losses.length);
  got.examples.forEach((g, i) => {
    for (const key of ["sum", "mean"] as const) {
      const want = ref.losses[i][key], have = key === "sum" ? g.sumLoss : g.meanLoss;
      want.forEach((w, c) => {
        assert.ok(
          Math.abs(have[c] - w) <= atol + rtol * Math.abs(w),
          `example ${i} ending ${c} ${key}: ${have[c]} vs ${w}`,
        );
      });
    }
  });
  assert.equal(got.acc, ref.acc);
  assert.equal(got.accNorm, ref.accNorm);
  assert.equal(got.acc, got.correct / got.n);
}

/**
 * 40 examples with contexts of 1…9 tokens and endings of 1…6 in a vocabulary of 97: several windows of the
 * evaluator's length grouping at one example per forward pass, and partial last batches.
 */
function syntheticExamples(): EvalExample[] {
  const r = rng(11);
  const tokens = (n: number) => Array.from({ length: n }, () => r.nextUint32() % 97);
  return Array.from({ length: 40 }, (_, i) => ({
    label: i % 4,
    context: tokens(1 + (i * 5) % 9),
    endings: [0, 1, 2, 3].map((c) => tokens(1 + (i + 3 * c) % 6)),
  }));
}

const fixtureExamples = await readEvalFile(FIXTURE);
const fixtureReference = await referenceLosses(GPT2_SHAPE, 3, fixtureExamples, true);
const synthetic = syntheticExamples();
const syntheticReference = await referenceLosses(SMALL_SHAPE, 5, synthetic);

Deno.test("evaluateHellaswag (scalar CPU, batched) = one completion per forward pass, for every batch size", async () => {
  const cfg = SMALL_SHAPE;
  const T = evalSequenceLength(checkExamplesFit(synthetic, cfg, "s"), cfg);
  for (const perForward of [1, 3, 4]) {
    // One spare row: a B that is not a multiple of 4 leaves it unused.
    const model = load(await createCpuModel(cfg, 4 * perForward + 1, T, { training: false }), cfg, 5);
    const progress: number[] = [];
    const got = await evaluateHellaswag(model, synthetic, { onProgress: (p) => progress.push(p.done) });
    // The same float32 ops on the same rows, summed in float64: equal up to the rounding of the sums.
    assertMatches(got, syntheticReference, 1e-9, 1e-12);
    assert.deepEqual(
      progress,
      Array.from({ length: Math.ceil(40 / perForward) }, (_, i) => Math.min(40, (i + 1) * perForward)),
    );
    model.close();
  }
  // Not a foregone result: the summed and the mean loss pick differently on some example.
  const argmin = (a: number[]) => a.indexOf(Math.min(...a));
  assert.ok(syntheticReference.losses.some((r) => argmin(r.sum) !== argmin(r.mean)));
});

Deno.test("evaluateHellaswag on the WebAssembly kernels: the reference's accuracies, losses within 1e-5", async () => {
  for (
    const [cfg, seed, examples, ref] of [
      [SMALL_SHAPE, 5, synthetic, syntheticReference],
      [GPT2_SHAPE, 3, fixtureExamples, fixtureReference],
    ] as const
  ) {
    const T = evalSequenceLength(checkExamplesFit(examples, cfg, "s"), cfg);
    const kernels = (memory: WebAssembly.Memory) => CpuKernels.create(memory, 2);
    const model = load(await createCpuModel(cfg, 16, T, { training: false, kernels }), cfg, seed);
    try {
      // float32 kernels against float64-accumulating references, on losses of 3-11 nats per token.
      assertMatches(await evaluateHellaswag(model, examples), ref, 1e-5, 1e-5);
    } finally {
      model.close();
    }
  }
});

Deno.test({
  name: "evaluateHellaswag on WebGPU: the reference's accuracies, losses within 1e-5",
  ignore: !adapterAvailable,
  async fn() {
    for (
      const [cfg, seed, examples, ref] of [
        [SMALL_SHAPE, 5, synthetic, syntheticReference],
        [GPT2_SHAPE, 3, fixtureExamples, fixtureReference],
      ] as const
    ) {
      const T = evalSequenceLength(checkExamplesFit(examples, cfg, "s"), cfg);
      const model = load(await createGpuModel(cfg, 12, T, { training: false }), cfg, seed);
      try {
        assertMatches(await evaluateHellaswag(model, examples), ref, 1e-5, 1e-5);
      } finally {
        model.close();
      }
    }
  },
});

Deno.test("checkExamplesFit: one clear error for an example the model cannot hold", () => {
  const e = (context: number[], long: number[]): EvalExample => ({ label: 0, context, endings: [[1], [2], [3], long] });
  const cfg = { ...SMALL_SHAPE, maxSeqLen: 8 };
  assert.equal(checkExamplesFit([e([1, 2, 3], [4, 5, 6, 7, 8, 9])], cfg, "h.bin"), 8);
  const bad = (example: EvalExample, pattern: RegExp) =>
    assert.throws(() => checkExamplesFit([e([1], [2]), example], cfg, "h.bin"), (err: unknown) => {
      assert.ok(err instanceof UserError);
      assert.match(err.message, pattern);
      return true;
    });
  bad(
    e([1, 2, 3], [4, 5, 6, 7, 8, 9, 10]),
    /^h\.bin: example 1 needs 9 positions \(context 3 \+ longest ending 7, less 1\), longer than the model's context of 8$/,
  );
  bad(e([1, 96, 97], [4]), /^h\.bin: example 1 holds token 97, outside the model's vocabulary of 97$/);
  bad(e([], [4]), /^h\.bin: example 1 has an empty context/);
});

Deno.test("HellaswagProbe: the trained model's parameters, evaluated on its own model; the trained one untouched", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/h.bin`;
    await Deno.writeFile(path, encodeEvalFile(synthetic));
    const trained = load(await createCpuModel(SMALL_SHAPE, 2, 8), SMALL_SHAPE, 5);
    const before = await trained.readParameters();
    const probe = await HellaswagProbe.open(path, SMALL_SHAPE, { device: "cpu", examples: 9, batch: 2 });
    try {
      const got = await probe.run(trained);
      assert.equal(got.n, 9);
      const ref9 = { ...syntheticReference, losses: syntheticReference.losses.slice(0, 9) };
      const argmin = (a: number[]) => a.indexOf(Math.min(...a));
      ref9.acc = ref9.losses.filter((r, i) => argmin(r.sum) === synthetic[i].label).length / 9;
      ref9.accNorm = ref9.losses.filter((r, i) => argmin(r.mean) === synthetic[i].label).length / 9;
      assertMatches(got, ref9, 1e-5, 1e-5);
      assert.deepEqual(await trained.readParameters(), before);
    } finally {
      probe.close();
      trained.close();
    }
    await assert.rejects(
      HellaswagProbe.open(path, { ...SMALL_SHAPE, maxSeqLen: 4 }, { device: "cpu" }),
      /h\.bin: example \d+ needs \d+ positions .* longer than the model's context of 4/,
    );
  });
});

/** Tiny token files and an eval file of the synthetic examples (all within T = 16), with the trainer's options. */
async function trainSetup(dir: string): Promise<TinyTrainOptions> {
  await Deno.writeFile(`${dir}/h.bin`, encodeEvalFile(synthetic));
  return { ...await tinyTrainOptions(dir), valEvery: 2, sampleEvery: 2 };
}

/** Runs the trainer in this process; returns the step losses and the JSON events it printed. */
async function trainRun(o: TrainOptions) {
  const losses = new Map<number, number>();
  const events: Record<string, unknown>[] = [];
  const log = console.log;
  console.log = (line: string) => events.push(JSON.parse(line));
  try {
    await train({ ...o, onStep: (step, loss) => losses.set(step, loss) });
  } finally {
    console.log = log;
  }
  return { losses, events };
}

Deno.test("train --hellaswag-every: accuracies logged at steps N, 2N and the end; training bit-identical, resume too", async () => {
  await withTempDir(async (dir) => {
    const base = await trainSetup(dir);
    const hellaswag = { every: 2, path: `${dir}/h.bin` };
    const plain = await trainRun({ ...base, outDir: `${dir}/plain`, maxSteps: 5, resume: false });
    const probed = await trainRun({ ...base, hellaswag, outDir: `${dir}/probed`, maxSteps: 5, resume: false });
    assert.deepEqual([...probed.losses.entries()], [...plain.losses.entries()]); // Object.is per value
    for (const name of ["model_00000005.bin", "state_00000005.bin"]) {
      assert.deepEqual(await Deno.readFile(`${dir}/probed/${name}`), await Deno.readFile(`${dir}/plain/${name}`));
    }
    const scored = (events: Record<string, unknown>[]) => events.filter((e) => e.hellaswag !== undefined);
    const found = scored(probed.events);
    assert.deepEqual(found.map((e) => e.step), [2, 4, 5]);
    for (const e of found) {
      const h = e.hellaswag as { accNorm: number; acc: number; n: number };
      assert.equal(h.n, 40);
      assert.ok(h.accNorm >= 0 && h.accNorm <= 1 && h.acc >= 0 && h.acc <= 1);
      assert.match(e.message as string, /^HellaSwag acc_norm [\d.]+ \(\d+\/40\), acc [\d.]+ \(\d+\/40\) \(step \d\)$/);
    }
    const logged = (await Deno.readTextFile(`${dir}/probed/log.jsonl`)).trim().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(scored(logged), found);
    assert.deepEqual(scored(plain.events), []);
    // The probe's accuracy at step 5 is the evaluator's on the saved step-5 model.
    const model = await openModel(
      `${dir}/probed/model_00000005.bin`,
      (c) => createCpuModel(c, 4, 16, { training: false }),
    );
    const direct = await evaluateHellaswag(model, synthetic);
    model.close();
    assert.deepEqual(found.at(-1)!.hellaswag, { accNorm: direct.accNorm, acc: direct.acc, n: 40 });
    // The accuracy chart: one marker per evaluation, plus the legend's (the plain run draws no chart).
    const chart = await Deno.readTextFile(`${dir}/probed/hellaswag.svg`);
    assert.match(chart, /acc_norm/);
    assert.equal(chart.match(/<circle/g)?.length, found.length + 1);
    await assert.rejects(Deno.stat(`${dir}/plain/hellaswag.svg`));

    // Checkpoints at 3 and 5; without step 5's DONE marker a resume redoes steps 4 and 5: the same losses and
    // the same step-4 and step-5 accuracies.
    await trainRun({ ...base, hellaswag, outDir: `${dir}/split`, maxSteps: 5, resume: false });
    await Deno.remove(`${dir}/split/DONE_00000005`);
    const resumed = await trainRun({ ...base, hellaswag, outDir: `${dir}/split`, maxSteps: 5, resume: true });
    assert.deepEqual([...resumed.losses.entries()], [4, 5].map((s) => [s, plain.losses.get(s)]));
    assert.deepEqual(scored(resumed.events), found.slice(1));
  });
});

Deno.test("gpt2 train --hellaswag-every: a line per evaluation; a missing file stops the run in one line", async () => {
  const { dir, flags } = await tinyRun();
  try {
    await Deno.writeFile(`${dir}/h.bin`, encodeEvalFile(synthetic));
    const args = [...flags, "-x", "2", "-o", "", "--hellaswag-every", "1", "--hellaswag-examples", "5"];
    const ok = await gpt2("train", ...args, "--hellaswag", `${dir}/h.bin`);
    assert.equal(ok.code, 0, ok.stderr);
    const lines = ok.stdout.split("\n").filter((l) => l.startsWith("HellaSwag"));
    assert.deepEqual(lines.map((l) => l.replace(/[\d.]+ \((\d)\/5\)/g, "x (k/5)")), [
      "HellaSwag acc_norm x (k/5), acc x (k/5) (step 1)",
      "HellaSwag acc_norm x (k/5), acc x (k/5) (step 2)",
    ]);
    const missing = await gpt2("train", ...args, "--hellaswag", `${dir}/none.bin`);
    assert.equal(missing.code, 1);
    assert.match(oneLine(missing), /none\.bin: no such eval file; make it with 'gpt2 prepro hellaswag'/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
