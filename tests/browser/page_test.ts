/**
 * The training page (`gpt2 serve`, web/) in headless Chromium: it trains a small model for 30 steps from the served
 * token files, its first five step losses equal `gpt2 train`'s for the same settings (the CPU backend here, the
 * page on Chromium's WebGPU), its loss falls, a sample streams in with the sampling settings, its downloaded
 * checkpoint loads in `gpt2 generate`, a text file given to it is tokenized as `gpt2 prepro text` does, and a
 * screenshot of the finished page is written to docs/page.png.
 */
import assert from "node:assert/strict";
import { readShard } from "../../prepro/shard.ts";
import { chromiumPath } from "./_chromium.ts";
import { gpt2 } from "../commands/_cli.ts";
import { cliLosses, SMALL_RUN, startPageRig, statusIs, trainLog } from "./_page.ts";

const SCREENSHOT = new URL("../../docs/page.png", import.meta.url).pathname;

Deno.test({
  name: `browser (${
    chromiumPath ? "chromium" : "no chromium: install it"
  }): the training page trains as gpt2 train does`,
  ignore: !chromiumPath && !Deno.env.get("CI"),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const rig = await startPageRig();
    try {
      const page = await rig.open({ ...SMALL_RUN, steps: 30, autostart: 1 });
      await page.waitForFunction(statusIs("done"), null, { timeout: 170_000 });
      assert.equal(await page.textContent("#status"), "done");
      const log = await trainLog(page);
      assert.deepEqual(log.map((e) => e.step), Array.from({ length: 30 }, (_, i) => i + 1));
      assert.ok(log[29].loss < log[0].loss - 0.5, `the loss falls: ${log[0].loss} → ${log[29].loss}`);
      assert.ok(log[19].valLoss! > 0 && log[29].valLoss! > 0, "val loss at steps 20 and 30");
      assert.match(await page.textContent("#device") ?? "", /WebGPU/);
      // The CLI with the same settings (its own defaults for the rest), on the CPU.
      const steps = await cliLosses(rig, 30);
      // float32 on two backends (Chromium's WebGPU, this CPU): ~1e-7 apart; the bound is 1e-4.
      for (let i = 0; i < 5; i++) {
        assert.ok(Math.abs(log[i].loss - steps[i]) <= 1e-4, `step ${i + 1}: ${log[i].loss} vs ${steps[i]}`);
      }
      // A sample with top-k 5 at temperature 0.8 fills #sample (at most T = 16 tokens) and says so.
      await page.fill("#temperature", "0.8");
      await page.fill("#topk", "5");
      await page.click("#generate");
      await page.waitForFunction(`/^16 tokens after step 30/.test(document.getElementById("sample-note").textContent)`);
      assert.ok((await page.textContent("#sample"))!.length > 0, "the sample has text");
      // The download is an llm.c checkpoint that generate loads.
      const [download] = await Promise.all([page.waitForEvent("download"), page.click("#download")]);
      const model = `${rig.dir}/${download.suggestedFilename()}`;
      await download.saveAs(model);
      const gen = await gpt2("generate", "-e", model, "-n", "4", "--device", "cpu");
      assert.equal(gen.code, 0, gen.stderr);
      // A text file given to the page is tokenized as `gpt2 prepro text` does (document rule, first tenth val).
      const text = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n".repeat(
        20,
      );
      await Deno.writeTextFile(`${rig.dir}/speech.txt`, text);
      await page.setInputFiles("#textfile", `${rig.dir}/speech.txt`);
      await page.waitForFunction(`document.getElementById("data")?.textContent?.includes("tokens") === true`);
      const inPage: { train: number[]; val: number[] } = await page.evaluate(() =>
        (globalThis as unknown as { textTokens: { train: number[]; val: number[] } }).textTokens
      );
      const prepro = await gpt2("prepro", "text", `${rig.dir}/speech.txt`, "-o", `${rig.dir}/speech`);
      assert.equal(prepro.code, 0, prepro.stderr);
      assert.deepEqual(inPage.val, [...await readShard(`${rig.dir}/speech/speech_val.bin`)]);
      assert.deepEqual(inPage.train, [...await readShard(`${rig.dir}/speech/speech_train.bin`)]);
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
      console.log(`  losses ${log[0].loss.toFixed(3)} → ${log[29].loss.toFixed(3)}; screenshot: ${SCREENSHOT}`);
    } finally {
      await rig.close();
    }
  },
});
