/**
 * The training page's test rig: a small learnable token stream served by `gpt2 serve` from a temporary directory,
 * and headless Chromium (with or without WebGPU) on it. The page tests share it.
 *
 * @module
 */
import assert from "node:assert/strict";
import { chromium, type Page } from "playwright-core";
import { writeShard } from "../../prepro/shard.ts";
import { chromiumPath } from "./_chromium.ts";
import { gpt2 } from "../commands/_cli.ts";

const CLI = new URL("../../cli.ts", import.meta.url).pathname;

/** The run the page tests train: small enough for a few seconds, with a 97-token vocabulary. */
export const SMALL_RUN = { layers: 2, heads: 2, channels: 32, batch: 2, seq: 16, lr: 0.01, seed: 3, vocab: 97 };
/** `SMALL_RUN`'s model as a descriptor for `gpt2 train -e`. */
export const SMALL_SPEC = "layers=2,heads=2,channels=32,seq=16,vocab=97";

/** A served page: the temporary directory, the URL, the browser, and a way to close them all. */
export interface PageRig {
  dir: string;
  /** The train token file (what `gpt2 train -i` reads). */
  trainFile: string;
  url: string;
  open(query: Record<string, string | number>): Promise<Page>;
  close(): Promise<void>;
}

/**
 * Writes the token files, starts `gpt2 serve --port 0` on them and launches Chromium.
 *
 * @param options `webgpu: false` launches Chromium without `--enable-unsafe-webgpu`; `serveArgs` go to serve.
 * @returns The rig; close it in a `finally`.
 */
export async function startPageRig(options: { webgpu?: boolean; serveArgs?: string[] } = {}): Promise<PageRig> {
  const dir = await Deno.makeTempDir({ prefix: "llmts-page-test-" });
  const data = `${dir}/data/tinyshakespeare`;
  await Deno.mkdir(data, { recursive: true });
  // A learnable stream (a period of 13 tokens) in a 97-token vocabulary: the loss falls within 30 steps.
  const tokens = Array.from({ length: 6000 }, (_, i) => ((i % 13) * 7 + (i % 5)) % 97);
  const trainFile = `${data}/tiny_shakespeare_train.bin`;
  await writeShard(trainFile, tokens);
  await writeShard(`${data}/tiny_shakespeare_val.bin`, tokens.slice(0, 1200));
  const server = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, "serve", "--port", "0", "--data", `${dir}/data`, ...(options.serveArgs ?? [])],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = server.stdout.getReader();
  const first = new TextDecoder().decode((await reader.read()).value);
  reader.releaseLock();
  const url = first.match(/http:\/\/[\d.]+:\d+\//)?.[0];
  const flags = ["--no-sandbox", "--disable-background-networking", "--no-first-run"];
  const browser = url
    ? await chromium.launch({
      executablePath: chromiumPath,
      args: options.webgpu === false ? flags : ["--enable-unsafe-webgpu", ...flags],
    })
    : undefined;
  const close = async () => {
    await browser?.close();
    server.kill();
    await server.status;
    await Deno.remove(dir, { recursive: true });
  };
  if (!url || !browser) {
    await close();
    assert.fail(`serve printed no URL: ${first}`);
  }
  return {
    dir,
    trainFile,
    url,
    async open(query) {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
      page.on("pageerror", (err) => console.error(`page error: ${err.message}`));
      const params = new URLSearchParams(Object.entries(query).map(([k, v]) => [k, String(v)]));
      await page.goto(`${url}?${params}`);
      return page;
    },
    close,
  };
}

/** A page expression true once #status is one of `states` (or an error). */
export function statusIs(...states: string[]): string {
  const re = `^(${[...states, "error"].join("|")})`;
  return `(document.getElementById("status")?.textContent ?? "").match(/${re}/) !== null`;
}

/**
 * The page's log of steps (`window.trainLog`).
 *
 * @param page The page.
 * @returns One entry per step.
 */
export async function trainLog(page: Page): Promise<{ step: number; loss: number; ms: number; valLoss?: number }[]> {
  return await page.evaluate(() => (globalThis as unknown as { trainLog: [] }).trainLog);
}

/**
 * The step losses of `gpt2 train` on the CPU with `SMALL_RUN`'s settings.
 *
 * @param rig The rig (its train file and directory).
 * @param steps Steps to run.
 * @param options `model` for `-e` (`SMALL_RUN`'s descriptor, or a checkpoint to fine-tune), `batch` and `seq`
 *   (`SMALL_RUN`'s by default).
 * @returns The losses of each step, in order.
 */
export async function cliLosses(
  rig: PageRig,
  steps: number,
  options: { model?: string; batch?: number; seq?: number } = {},
): Promise<number[]> {
  const { model = SMALL_SPEC, batch = SMALL_RUN.batch, seq = SMALL_RUN.seq } = options;
  const out = `${rig.dir}/cli-${crypto.randomUUID()}`;
  const cli = await gpt2(
    "train",
    ...["-i", rig.trainFile, "-e", model, "-b", String(batch), "-t", String(seq), "-x", String(steps), "-l", "0.01"],
    ...["--seed", "3", "-v", "0", "-s", "0", "-o", out, "--device", "cpu", "--json"],
  );
  assert.equal(cli.code, 0, cli.stderr);
  const events = cli.stdout.trim().split("\n").map((l) => JSON.parse(l));
  return events.filter((e) => e.type === "step").map((e) => e.loss);
}
