/**
 * `gpt2 eval hellaswag` against transformers (issue 15, item 6): the random 1-layer GPT-2 in
 * tests/testdata/hellaswag/hf/ (written by transformers' `save_pretrained`), loaded through llm.ts's Hugging Face
 * loader and scored on mini_val.bin by the evaluator on each backend and by the CLI, must reproduce the float64
 * scores that make_hellaswag_reference.py recorded with transformers in reference.json.
 */
import assert from "node:assert/strict";
import { createModel } from "../../model/backends.ts";
import { loadParameters, resolveModelSource } from "../../model/source.ts";
import { readEvalFile } from "../../prepro/hellaswag.ts";
import { checkExamplesFit, evalSequenceLength, evaluateHellaswag } from "../../train/hellaswag.ts";
import { adapterAvailable } from "../gpu/_helpers.ts";
import { gpt2, jsonLines, testdata } from "./_cli.ts";

const HF = testdata("hellaswag", "hf");
const FIXTURE = testdata("hellaswag", "mini_val.bin");

/** reference.json: transformers' float64 scores of each example, as make_hellaswag_reference.py writes them. */
interface Reference {
  n: number;
  acc: number;
  acc_norm: number;
  config: { layers: number; heads: number; channels: number; positions: number };
  examples: {
    index: number;
    label: number;
    sumLoss: number[];
    meanLoss: number[];
    pred: number;
    predNorm: number;
  }[];
}

const reference: Reference = JSON.parse(await Deno.readTextFile(`${HF}/reference.json`));
const examples = await readEvalFile(FIXTURE);

// transformers scored in float64; llm.ts runs the model in float32 and sums each ending's float32 per-token losses
// in float64. A loss near 10.8 nats is a float32 with an ulp of 2^-20 ≈ 9.5e-7, so even exact math loses up to
// 4.8e-7 per token in storing it. Measured worst over the 24 endings (1-16 tokens each), CPU / WebGPU (llvmpipe):
// summed loss 2.5e-6 / 4.3e-6, mean loss 4.1e-7 / 5.4e-7, about one ulp per token, the same at every batch size and
// with either attention. The bounds are ~10x the worst, and still ~2000x smaller than the closest runner-up in
// reference.json (example 4's mean losses, 9.9e-3 apart), so no prediction hangs on them.
const SUM_TOLERANCE = 4e-5;
const MEAN_TOLERANCE = 5e-6;

Deno.test("reference.json scores mini_val.bin's examples with the model in hf/", async () => {
  const { config } = await resolveModelSource(HF);
  const c = reference.config;
  assert.deepEqual(
    [config.numLayers, config.numHeads, config.channels, config.maxSeqLen],
    [c.layers, c.heads, c.channels, c.positions],
  );
  assert.equal(reference.n, examples.length);
  assert.deepEqual(reference.examples.map((e) => [e.index, e.label]), examples.map((e, i) => [i, e.label]));
});

for (const device of ["cpu", "gpu"] as const) {
  Deno.test({
    name: `evaluateHellaswag (${device}) on a transformers-saved GPT-2: transformers' losses, predictions, accuracies`,
    ignore: device === "gpu" && !adapterAvailable,
    async fn() {
      const source = await resolveModelSource(HF);
      assert.equal(source.kind, "huggingface");
      const T = evalSequenceLength(checkExamplesFit(examples, source.config, FIXTURE), source.config);
      // As `gpt2 eval hellaswag --device <device>` builds it: 4 examples per forward pass (-b 4), so 6 examples
      // make one full pass and one partial one.
      const plan = { training: false, say: () => {} };
      const { model } = await createModel(source.config, 16, T, device, plan);
      try {
        await loadParameters(model, source);
        const got = await evaluateHellaswag(model, examples);
        assert.equal(got.n, reference.n);
        got.examples.forEach((g, i) => {
          const want = reference.examples[i];
          for (
            const [key, have, tolerance] of [
              ["sumLoss", g.sumLoss, SUM_TOLERANCE],
              ["meanLoss", g.meanLoss, MEAN_TOLERANCE],
            ] as const
          ) {
            want[key].forEach((w, c) => {
              const diff = Math.abs(have[c] - w);
              assert.ok(diff <= tolerance, `example ${i} ending ${c} ${key}: ${have[c]} vs ${w} (diff ${diff})`);
            });
          }
          assert.deepEqual([g.label, g.pred, g.predNorm], [want.label, want.pred, want.predNorm], `example ${i}`);
        });
        assert.deepEqual([got.acc, got.accNorm], [reference.acc, reference.acc_norm]);
      } finally {
        model.close();
      }
    },
  });
}

Deno.test("gpt2 eval hellaswag -e <Hugging Face folder> --json: transformers' acc, acc_norm and n", async () => {
  const r = await gpt2("eval", "hellaswag", "-e", HF, "--data", FIXTURE, "--device", "cpu", "--json");
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(jsonLines(r.stdout), [{ acc: reference.acc, acc_norm: reference.acc_norm, n: reference.n }]);
});
