/**
 * llm.c's test_gpt2 against PyTorch float64 references: logits, loss and all 16 gradients of one forward/backward
 * pass, then 10 AdamW steps. Tolerances are 100× tighter than llm.c's CPU test (the fixtures' float64 references
 * are rounded to float32 once; this implementation lands around 1e-7).
 */
import { readCheckpoint } from "../../model/checkpoint.ts";
import { createCpuModel } from "../../model/cpu_model.ts";
import { readDebugState } from "../../model/debug_state.ts";
import { PARAMETER_NAMES } from "../../model/tensors.ts";
import { fixturePath, FIXTURES, readExpected } from "./_fixtures.ts";

const TENSOR_TOLERANCE = 1e-4; // logits and each gradient tensor, max abs
const LOSS_TOLERANCE = 1e-5;
const LOSSES_TOLERANCE = 1e-4; // each of the 10 AdamW-step losses

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>, label: string): number {
  if (a.length !== b.length) throw new Error(`${label}: length ${a.length} vs ${b.length}`);
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (Number.isNaN(d)) return NaN;
    if (d > max) max = d;
  }
  return max;
}

function assertWithin(diff: number, tolerance: number, label: string): void {
  if (!(diff <= tolerance)) throw new Error(`${label}: max abs diff ${diff} > ${tolerance}`);
}

for (const name of FIXTURES) {
  Deno.test(`parity ${name}: logits, loss, 16 gradients and 10 AdamW losses match PyTorch`, async () => {
    const checkpoint = await readCheckpoint(fixturePath(name, "model.bin"));
    const cfg = checkpoint.config;
    const state = await readDebugState(fixturePath(name, "state.bin"), cfg);
    const expected = await readExpected(name);
    const model = await createCpuModel(cfg, state.B, state.T);
    for (const p of PARAMETER_NAMES) model.writeParameter(p, checkpoint.params[p]);

    const report: string[] = [];
    const losses: number[] = [];
    for (let step = 0; step < 10; step++) {
      model.forward(state.inputs, state.targets);
      losses.push(await model.meanLoss());
      model.zeroGrad();
      model.backward();
      if (step === 0) {
        const { vocabSize: V, paddedVocabSize: Vp } = cfg;
        const logits = await model.readLogits();
        const unpadded = new Float32Array(state.B * state.T * V);
        for (let n = 0; n < state.B * state.T; n++) unpadded.set(logits.subarray(n * Vp, n * Vp + V), n * V);
        const d = maxAbsDiff(unpadded, state.logits, "logits");
        assertWithin(d, TENSOR_TOLERANCE, "logits");
        report.push(`logits ${d.toExponential(1)}`);
        const lossDiff = Math.abs(losses[0] - expected.loss);
        assertWithin(lossDiff, LOSS_TOLERANCE, "loss");
        report.push(`loss ${lossDiff.toExponential(1)}`);
        const grads = await model.readGradients();
        let worst = 0;
        for (const p of PARAMETER_NAMES) {
          const gd = maxAbsDiff(grads[p], state.grads[p], `grad ${p}`);
          assertWithin(gd, TENSOR_TOLERANCE, `grad ${p}`);
          worst = Math.max(worst, gd);
        }
        report.push(`grads ${worst.toExponential(1)}`);
      }
      await model.update({
        learningRate: 1e-4,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weightDecay: 0.01,
        step: step + 1,
      });
    }
    const lossesDiff = maxAbsDiff(losses, expected.losses, "losses");
    assertWithin(lossesDiff, LOSSES_TOLERANCE, "10 step losses");
    if (!(losses[9] < losses[0])) throw new Error("training on one batch did not lower the loss");
    report.push(`losses ${lossesDiff.toExponential(1)}`);
    console.log(`  ${name}: max abs diffs: ${report.join(", ")}`);
  });
}
