/**
 * llm.c's test_gpt2 on the WebGPU backend, against the same PyTorch float64 fixtures and tolerances as the CPU
 * parity test (tests/model/parity_test.ts): logits, loss and all 16 gradients of one forward/backward pass, then 10
 * AdamW steps. It also checks that the second step creates no pipeline or bind group (everything is cached) and
 * that the GPU's gradient norm matches the one computed on the host from the read-back gradients.
 */
import { createGpuModel } from "../../model/gpu_model.ts";
import type { GpuExecutor } from "../../gpu/executor.ts";
import { readCheckpoint } from "../../model/checkpoint.ts";
import { readDebugState } from "../../model/debug_state.ts";
import { PARAMETER_NAMES } from "../../model/tensors.ts";
import { LOSSES_TOLERANCE, maxAbsDiff, PARITY_ADAMW, PARITY_STEPS } from "../../model/parity.ts";
import { assertWithin, checkFirstStep, fixturePath, FIXTURES, readExpected } from "../model/_fixtures.ts";
import { adapterAvailable, defaultOps } from "./_helpers.ts";

const NORM_RTOL = 1e-5; // GPU Σg² (f32, Kahan per thread) vs the host's float64 sum of the same gradients

for (const name of FIXTURES) {
  Deno.test({
    name: `gpu parity ${name}: logits, loss, 16 gradients and 10 AdamW losses match PyTorch`,
    ignore: !adapterAvailable,
    fn: async () => {
      const checkpoint = await readCheckpoint(fixturePath(name, "model.bin"));
      const cfg = checkpoint.config;
      const state = await readDebugState(fixturePath(name, "state.bin"), cfg);
      const expected = await readExpected(name);
      const ops: GpuExecutor = await defaultOps();
      const model = await createGpuModel(cfg, state.B, state.T, { exec: ops });
      for (const p of PARAMETER_NAMES) model.writeParameter(p, checkpoint.params[p]);

      const report: string[] = [];
      const losses: number[] = [];
      let cached = { pipelines: 0, bindGroups: 0 };
      for (let step = 0; step < PARITY_STEPS; step++) {
        if (step === 2) cached = ops.runtime.cacheSizes;
        model.forward(state.inputs, state.targets);
        losses.push(await model.meanLoss());
        const logits = step === 0 ? await model.readLogits() : undefined; // backward overwrites them
        model.zeroGrad();
        model.backward();
        if (logits) {
          const grads = await checkFirstStep(model, cfg, state, logits, expected.loss, report);
          let normSquared = 0;
          for (const p of PARAMETER_NAMES) for (const g of grads[p]) normSquared += g * g;
          const norm = await model.gradNorm();
          const normDiff = Math.abs(norm * norm - normSquared) / normSquared;
          if (!(normDiff <= NORM_RTOL)) throw new Error(`grad norm² ${norm * norm} vs host ${normSquared}`);
          report.push(`norm² rel ${normDiff.toExponential(1)}`);
        }
        await model.update({ ...PARITY_ADAMW, step: step + 1 });
      }
      const after = ops.runtime.cacheSizes;
      if (after.pipelines !== cached.pipelines || after.bindGroups !== cached.bindGroups) {
        throw new Error(`steps 3-10 built objects: ${JSON.stringify(cached)} -> ${JSON.stringify(after)}`);
      }
      const lossesDiff = maxAbsDiff(losses, expected.losses);
      assertWithin(lossesDiff, LOSSES_TOLERANCE, "10 step losses");
      if (!(losses[PARITY_STEPS - 1] < losses[0])) throw new Error("training on one batch did not lower the loss");
      report.push(`losses ${lossesDiff.toExponential(1)}`);
      console.log(`  ${name}: max abs diffs: ${report.join(", ")}`);
    },
  });
}
