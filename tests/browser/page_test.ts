/**
 * The training page (`gpt2 serve`, web/) in headless Chromium: it trains a small model for 30 steps from the served
 * token files, its first five step losses equal `gpt2 train`'s for the same settings (the CPU backend here, the
 * page on Chromium's WebGPU), its loss falls, its downloaded checkpoint loads in `gpt2 generate`, a text file given
 * to it is tokenized as `gpt2 prepro text` does, and a screenshot of the finished page is kept (its path is printed).
 */
import assert from "node:assert/strict";
import { readShard, writeShard } from "../../prepro/shard.ts";
import { chromiumPath } from "./_chromium.ts";
import { chromium } from "playwright-core";
import { gpt2 } from "../commands/_cli.ts";

const CLI = new URL("../../cli.ts", import.meta.url).pathname;

Deno.test({
  name: `browser (${
    chromiumPath ? "chromium" : "no chromium: install it"
  }): the training page trains as gpt2 train does`,
  ignore: !chromiumPath && !Deno.env.get("CI"),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "llmts-page-test-" });
    const data = `${dir}/data/tinyshakespeare`;
    await Deno.mkdir(data, { recursive: true });
    // A learnable stream (a period of 13 tokens) in a 97-token vocabulary: the loss falls within 30 steps.
    const tokens = Array.from({ length: 6000 }, (_, i) => ((i % 13) * 7 + (i % 5)) % 97);
    await writeShard(`${data}/tiny_shakespeare_train.bin`, tokens);
    await writeShard(`${data}/tiny_shakespeare_val.bin`, tokens.slice(0, 1200));
    const server = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", CLI, "serve", "--port", "0", "--data", `${dir}/data`],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const browser = await chromium.launch({
      executablePath: chromiumPath,
      args: ["--enable-unsafe-webgpu", "--no-sandbox", "--disable-background-networking", "--no-first-run"],
    });
    try {
      const reader = server.stdout.getReader();
      const first = new TextDecoder().decode((await reader.read()).value);
      reader.releaseLock();
      const url = first.match(/http:\/\/[\d.]+:\d+\//)?.[0];
      assert.ok(url, `serve printed no URL: ${first}`);
      const run = { layers: 2, heads: 2, channels: 32, batch: 2, seq: 16, steps: 30, lr: 0.01, seed: 3, vocab: 97 };
      const query = new URLSearchParams(Object.entries(run).map(([k, v]) => [k, String(v)]));
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
      await page.goto(`${url}?${query}&autostart=1`);
      // A page expression (a string: this file is not type-checked against the DOM).
      const finished = `(document.getElementById("status")?.textContent ?? "").match(/^(done|error)/) !== null`;
      await page.waitForFunction(finished, null, { timeout: 170_000 });
      assert.equal(await page.textContent("#status"), "done");
      const log: { step: number; loss: number; ms: number; valLoss?: number }[] = await page.evaluate(() =>
        (globalThis as unknown as { trainLog: [] }).trainLog
      );
      assert.deepEqual(log.map((e) => e.step), Array.from({ length: 30 }, (_, i) => i + 1));
      assert.ok(log[29].loss < log[0].loss - 0.5, `the loss falls: ${log[0].loss} → ${log[29].loss}`);
      assert.ok(log[19].valLoss! > 0 && log[29].valLoss! > 0, "val loss at steps 20 and 30");
      assert.match(await page.textContent("#device") ?? "", /WebGPU/);
      // The CLI with the same settings (its own defaults for the rest), on the CPU.
      const spec = `layers=2,heads=2,channels=32,seq=16,vocab=97`;
      const cli = await gpt2(
        "train",
        ...["-i", `${data}/tiny_shakespeare_train.bin`, "-e", spec, "-b", "2", "-t", "16", "-x", "30", "-l", "0.01"],
        ...["--seed", "3", "-v", "0", "-s", "0", "-o", `${dir}/cli`, "--device", "cpu", "--json"],
      );
      assert.equal(cli.code, 0, cli.stderr);
      const steps = cli.stdout.trim().split("\n").map((l) => JSON.parse(l)).filter((e) => e.type === "step");
      // float32 on two backends (Chromium's WebGPU, this CPU): ~1e-7 apart; the bound is 1e-4.
      for (let i = 0; i < 5; i++) {
        assert.ok(Math.abs(log[i].loss - steps[i].loss) <= 1e-4, `step ${i + 1}: ${log[i].loss} vs ${steps[i].loss}`);
      }
      // The download is an llm.c checkpoint that generate loads.
      const [download] = await Promise.all([page.waitForEvent("download"), page.click("#download")]);
      const model = `${dir}/${download.suggestedFilename()}`;
      await download.saveAs(model);
      const gen = await gpt2("generate", "-e", model, "-n", "4", "--device", "cpu");
      assert.equal(gen.code, 0, gen.stderr);
      // A text file given to the page is tokenized as `gpt2 prepro text` does (document rule, first tenth val).
      const text = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n".repeat(
        20,
      );
      await Deno.writeTextFile(`${dir}/speech.txt`, text);
      await page.setInputFiles("#textfile", `${dir}/speech.txt`);
      await page.waitForFunction(`document.getElementById("data")?.textContent?.includes("tokens") === true`);
      const inPage: { train: number[]; val: number[] } = await page.evaluate(() =>
        (globalThis as unknown as { textTokens: { train: number[]; val: number[] } }).textTokens
      );
      const prepro = await gpt2("prepro", "text", `${dir}/speech.txt`, "-o", `${dir}/speech`);
      assert.equal(prepro.code, 0, prepro.stderr);
      assert.deepEqual(inPage.val, [...await readShard(`${dir}/speech/speech_val.bin`)]);
      assert.deepEqual(inPage.train, [...await readShard(`${dir}/speech/speech_train.bin`)]);
      const shot = `${await Deno.makeTempDir({ prefix: "llmts-page-shot-" })}/page.png`;
      await page.screenshot({ path: shot, fullPage: true });
      console.log(`  losses ${log[0].loss.toFixed(3)} → ${log[29].loss.toFixed(3)}; screenshot: ${shot}`);
    } finally {
      await browser.close();
      server.kill();
      await server.status;
      await Deno.remove(dir, { recursive: true });
    }
  },
});
