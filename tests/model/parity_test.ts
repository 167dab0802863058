/**
 * llm.c's test_gpt2 against PyTorch float64 references: logits, loss and all 16 gradients of one forward/backward
 * pass, then 10 AdamW steps. Tolerances are 100× tighter than llm.c's CPU test (the fixtures' float64 references
 * are rounded to float32 once; this implementation lands around 1e-7).
 */
import { readCheckpoint } from "../../model/checkpoint.ts";
import { createCpuModel } from "../../model/cpu_model.ts";
import { readDebugState } from "../../model/debug_state.ts";
import { PARAMETER_NAMES } from "../../model/tensors.ts";
import { LOSSES_TOLERANCE, maxAbsDiff, PARITY_ADAMW, PARITY_STEPS } from "../../model/parity.ts";
import { assertWithin, checkFirstStep, fixturePath, FIXTURES, readExpected } from "./_fixtures.ts";

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
    for (let step = 0; step < PARITY_STEPS; step++) {
      model.forward(state.inputs, state.targets);
      losses.push(await model.meanLoss());
      const logits = step === 0 ? await model.readLogits() : undefined; // backward overwrites them
      model.zeroGrad();
      model.backward();
      if (logits) await checkFirstStep(model, cfg, state, logits, expected.loss, report);
      await model.update({ ...PARITY_ADAMW, step: step + 1 });
    }
    const lossesDiff = maxAbsDiff(losses, expected.losses);
    assertWithin(lossesDiff, LOSSES_TOLERANCE, "10 step losses");
    if (!(losses[PARITY_STEPS - 1] < losses[0])) throw new Error("training on one batch did not lower the loss");
    report.push(`losses ${lossesDiff.toExponential(1)}`);
    console.log(`  ${name}: max abs diffs: ${report.join(", ")}`);
  });
}
