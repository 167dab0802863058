/**
 * The GPU kernels in a real browser: headless Chromium (tests/browser/_chromium.ts), whose WebGPU adapter here
 * (SwiftShader) grants `subgroups`, so the kernels' subgroup forms — which neither Deno's llvmpipe nor CI otherwise
 * can run — are checked against the CPU forms: flash attention forward (its row-group reductions), at three heads,
 * head sizes 8, 64 and 80 and T = 1, 7, 33, 70 (none a multiple of a tile), outputs NaN-poisoned. First, every
 * kernel (both forms where there are two) must compile there without errors or warnings; last, five training steps
 * of a small model in the tab match the CPU backend's here (tests/browser/_steps.ts).
 */
import assert from "node:assert/strict";
import type { KernelChecks } from "./kernels_page.ts";
import { chromiumPath, withPage } from "./_chromium.ts";
import { STEPS_RUN, trainSteps } from "./_steps.ts";
import { createCpuModel } from "../../model/cpu_model.ts";
import { parseModelDescriptor } from "../../model/config.ts";

declare const kernelChecks: KernelChecks;

Deno.test({
  name: `browser (${
    chromiumPath ? "chromium" : "no chromium: install it"
  }): every kernel compiles; subgroup forms vs CPU`,
  // Where chromium is missing the test is skipped, except in CI (.ci/run installs it), where that is a failure.
  ignore: !chromiumPath && !Deno.env.get("CI"),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withPage("./kernels_page.ts", async (page) => {
      await page.waitForFunction(() => typeof kernelChecks === "object");
      const device = await page.evaluate(() => kernelChecks.device());
      console.log(`  ${device.description}, subgroups ${device.subgroups}`);
      assert.equal(device.subgroups, true, "Chromium's adapter grants subgroups here: the subgroup forms run");
      // Chromium's WGSL compiler (Tint) is stricter than Deno's (Naga) in places, uniformity analysis among them.
      const { compiled, messages } = await page.evaluate(() => kernelChecks.compileAll());
      assert.deepEqual(messages, [], "every kernel compiles in Chromium without errors or warnings");
      console.log(`  ${compiled} kernels compiled by Chromium's WGSL compiler, both forms of those with subgroups`);
      // The same bounds as tests/layers/flash_attention_test.ts: float32 sums of hs ≤ 80 products and of ≤ 70 keys
      // against the CPU's float64.
      // The launcher's forward tile (8 threads a row group), and 16 threads a row group: the subgroup form's quad
      // shuffles (SwiftShader's subgroups are 4 wide) then four quad partials through workgroup memory.
      const worst = { out: 0, lse: 0 };
      for (const forward of [undefined, "16x16x16"]) {
        for (const hs of [8, 64, 80]) {
          for (const T of [1, 7, 33, 70]) {
            const d = await page.evaluate(
              ([T, C, forward]) => kernelChecks.flashForward(2, T as number, C as number, 3, forward as string),
              [T, 3 * hs, forward],
            );
            const what = `hs=${hs} T=${T} ${forward ?? "launcher's tile"}`;
            assert.ok(d.out <= 2e-6 + 1e-5 * 4, `${what}: out differs by ${d.out}`);
            assert.ok(d.lse <= 4e-6 + 1e-6 * 12, `${what}: lse differs by ${d.lse}`);
            worst.out = Math.max(worst.out, d.out);
            worst.lse = Math.max(worst.lse, d.lse);
          }
        }
      }
      console.log(
        `  flash forward (subgroup form): max abs diff out ${worst.out.toExponential(1)}, lse ${
          worst.lse.toExponential(1)
        }`,
      );
      // Training in the tab: five steps of a small model on Chromium's WebGPU against the CPU backend here, from the
      // same init and batches. Both are float32 (2.6e-7 apart when this was written); 1e-5 is the parity tests' loss
      // tolerance, and inside the 1e-4 the training page must meet against `gpt2 train`.
      const inTab = await page.evaluate(() => kernelChecks.training());
      const { model: spec, B, T, steps, seed } = STEPS_RUN;
      const cpu = await createCpuModel(parseModelDescriptor(spec)!, B, T);
      const here = await trainSteps(cpu, steps, seed);
      inTab.forEach((loss, i) => assert.ok(Math.abs(loss - here[i]) <= 1e-5, `step ${i + 1}: ${loss} vs ${here[i]}`));
      assert.ok(here[steps - 1] < here[0], "the loss falls");
      const diff = Math.max(...inTab.map((loss, i) => Math.abs(loss - here[i])));
      console.log(
        `  training in the tab: losses ${inTab.map((x) => x.toFixed(5)).join(", ")}; max diff to the CPU ${
          diff.toExponential(1)
        }`,
      );
    });
  },
});
