/**
 * Checkpoints picked in the training page (headless Chromium, WebGPU): a file that is no checkpoint says why in
 * #status; an llm.c v5 (bf16) file and a Hugging Face `model.safetensors` + `config.json` load, fill and lock the
 * model fields and say what they hold in one line; the Hugging Face model and the llm.c v3 file of the same weights
 * sample the same greedy text; and fine-tuning the v3 file trains as `gpt2 train -e file.bin` does.
 */
import assert from "node:assert/strict";
import { HEADER_BYTES, writeCheckpoint } from "../../model/checkpoint.ts";
import { parseModelDescriptor } from "../../model/config.ts";
import { saveHuggingFace } from "../../model/huggingface.ts";
import { randomParameters } from "../../model/init.ts";
import { f32ToBf16Bits } from "../../model/safetensors.ts";
import { parameterSpecs } from "../../model/tensors.ts";
import type { ParameterTensors } from "../../model/checkpoint.ts";
import type { Page } from "playwright-core";
import { chromiumPath } from "./_chromium.ts";
import { cliLosses, SMALL_RUN, SMALL_SPEC, startPageRig, statusIs, trainLog } from "./_page.ts";

/** Picks `files` in #checkpoint and waits until the page has read them (an idle status, or an error). */
async function pick(page: Page, files: string[]): Promise<string> {
  await page.setInputFiles("#checkpoint", files);
  await page.waitForFunction(statusIs("idle"));
  return await page.textContent("#status") ?? "";
}

/** A greedy sample of 12 tokens from the loaded model, before any training. */
async function greedySample(page: Page): Promise<string> {
  await page.fill("#temperature", "0");
  await page.fill("#tokens", "12");
  await page.click("#generate");
  await page.waitForFunction(`/^12 tokens after step 0/.test(document.getElementById("sample-note").textContent)`);
  return await page.textContent("#sample") ?? "";
}

Deno.test({
  name: "browser: the page loads llm.c v3/v5 and Hugging Face checkpoints, samples and fine-tunes them",
  ignore: !chromiumPath && !Deno.env.get("CI"),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const rig = await startPageRig();
    try {
      const config = parseModelDescriptor(SMALL_SPEC)!;
      const params = Object.fromEntries(randomParameters(config, 5)) as ParameterTensors;
      const v3 = `${rig.dir}/start.bin`;
      await writeCheckpoint(v3, config, params);
      // Version 5: the same header with version 5, then every tensor as bf16.
      const header = (await Deno.readFile(v3)).slice(0, HEADER_BYTES);
      new DataView(header.buffer).setInt32(4, 5, true);
      const bf16 = parameterSpecs(config).map((s) => new Uint8Array(f32ToBf16Bits(params[s.name as never]).buffer));
      const v5 = `${rig.dir}/start_bf16.bin`;
      await Deno.writeFile(v5, new Uint8Array(await new Blob([header, ...bf16] as BlobPart[]).arrayBuffer()));
      const hf = await saveHuggingFace(`${rig.dir}/hf`, config, params);
      const bad = `${rig.dir}/notes.bin`;
      await Deno.writeTextFile(bad, "not a model\n".repeat(100));

      const page = await rig.open({ ...SMALL_RUN, steps: 3 });
      await page.waitForFunction(statusIs("idle"));
      assert.equal(
        await pick(page, [bad]),
        "error: notes.bin: bad magic number 544501614, expected 20240326 (not an llm.c model file)",
      );
      assert.equal(
        await pick(page, [hf.weights]),
        "error: model.safetensors: pick config.json together with the " +
          ".safetensors file (both at once)",
      );

      assert.equal(await pick(page, [v5]), "idle");
      const shape = "2 layers, 2 heads, 32 channels, vocabulary 97, max sequence 16, 30,080 parameters";
      assert.equal(await page.textContent("#model"), `start_bf16.bin (llm.c v5 (bf16)): ${shape}`);
      for (const field of ["#layers", "#heads", "#channels", "#vocab"]) {
        assert.equal(await page.isDisabled(field), true, `${field} is locked`);
      }
      assert.equal(await page.inputValue("#channels"), "32");

      assert.equal(await pick(page, [hf.weights, hf.config]), "idle");
      assert.equal(
        await page.textContent("#model"),
        `model.safetensors + config.json (Hugging Face safetensors): ${shape}`,
      );
      const fromHf = await greedySample(page);
      assert.equal(await pick(page, [v3]), "idle");
      assert.equal(await page.textContent("#model"), `start.bin (llm.c v3 (fp32)): ${shape}`);
      assert.equal(await greedySample(page), fromHf, "the same weights sample the same greedy text");

      await page.click("#train");
      await page.waitForFunction(statusIs("done"), null, { timeout: 120_000 });
      assert.equal(await page.textContent("#status"), "done");
      const log = await trainLog(page);
      const cli = await cliLosses(rig, 3, { model: v3 });
      // Fine-tuning starts from the file's weights: the CLI's losses (its CPU, the page's WebGPU) within 1e-4.
      for (let i = 0; i < 3; i++) assert.ok(Math.abs(log[i].loss - cli[i]) <= 1e-4, `step ${i + 1}: ${log[i].loss}`);
    } finally {
      await rig.close();
    }
  },
});
