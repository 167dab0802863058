/**
 * Helpers for the tests that run `gpt2 train` in a child process: tiny token files and a tiny model, so that a
 * run takes well under a second, and the run's stdout, stderr and exit code.
 *
 * @module
 */
import { writeShard } from "../../prepro/shard.ts";
import type { TrainOptions } from "../../train/trainer.ts";
import { gpt2, type Run } from "../commands/_cli.ts";

export { gpt2, type Run };

const CLI = new URL("../../cli.ts", import.meta.url).pathname;

/** A model small enough for a step of a few milliseconds on the CPU. */
export const TINY_MODEL = "layers=2,heads=3,channels=30,seq=16,vocab=97";

/** The options of an in-process `train()` that every test sets itself. */
export type TinyTrainOptions = Omit<TrainOptions, "outDir" | "maxSteps" | "resume">;

/**
 * Writes `t_train.bin` (4000 tokens) and `t_val.bin` (600) into `dir` and returns in-process `train()` options for
 * them: TINY_MODEL at B=2, T=16, two micro-batches a step, cosine schedule, val loss, samples and checkpoints every 3
 * steps, on the CPU. Tests override what they vary.
 */
export async function tinyTrainOptions(dir: string): Promise<TinyTrainOptions> {
  const tokens = (n: number, seed: number) => Array.from({ length: n }, (_, i) => (i * 7919 + seed * 104729) % 97);
  await writeShard(`${dir}/t_train.bin`, tokens(4000, 1));
  await writeShard(`${dir}/t_val.bin`, tokens(600, 2));
  return {
    trainPattern: `${dir}/t_train.bin`,
    valPattern: `${dir}/t_val.bin`,
    model: TINY_MODEL,
    B: 2,
    T: 16,
    totalBatchTokens: 64,
    learningRate: 1e-2,
    warmupSteps: 2,
    finalFraction: 0.1,
    schedule: "cosine",
    weightDecay: 0.1,
    valEvery: 3,
    valBatches: 2,
    sampleEvery: 3,
    genTokens: 4,
    checkpointEvery: 3,
    seed: 7,
    device: "cpu",
    json: true,
  };
}

/**
 * Makes a temp directory with `t_train.bin` and `t_val.bin` and returns it with the `gpt2 train` flags that use
 * them on the CPU (B=2, T=16, no val loss or samples unless a test adds them).
 */
export async function tinyRun(): Promise<{ dir: string; flags: string[] }> {
  const dir = await Deno.makeTempDir();
  const tokens = Array.from({ length: 20000 }, (_, i) => (i * 7919) % 97);
  await writeShard(`${dir}/t_train.bin`, tokens);
  await writeShard(`${dir}/t_val.bin`, tokens.slice(0, 500));
  const flags = ["-i", `${dir}/t_train.bin`, "-j", `${dir}/t_val.bin`, "--device", "cpu", "-e", TINY_MODEL];
  flags.push("-b", "2", "-t", "16", "-v", "0", "-s", "0");
  return { dir, flags };
}

/** Starts `gpt2 ARGS…` with piped output; `lines()` yields stdout lines as they come. */
export function spawnGpt2(...args: string[]): {
  child: Deno.ChildProcess;
  lines: () => AsyncGenerator<string>;
  /** The whole stderr, once the process has closed it. */
  stderr: () => Promise<string>;
  /** Resolves when stderr has printed `text` (rejects after `ms` milliseconds or at its end without it). */
  stderrShows: (text: string, ms?: number) => Promise<void>;
} {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, ...args],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let err = "";
  const waiters: { text: string; resolve: () => void }[] = [];
  const stderrText = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of child.stderr) {
      err += decoder.decode(chunk, { stream: true });
      for (const w of waiters.filter((w) => err.includes(w.text))) w.resolve();
    }
    return err;
  })();
  const stderrShows = (text: string, ms = 60_000) =>
    new Promise<void>((resolve, reject) => {
      if (err.includes(text)) return resolve();
      const timer = setTimeout(() => reject(new Error(`stderr did not show '${text}' in ${ms} ms:\n${err}`)), ms);
      waiters.push({ text, resolve: () => (clearTimeout(timer), resolve()) });
      stderrText.then(() => err.includes(text) || reject(new Error(`stderr ended without '${text}':\n${err}`)));
    });
  async function* lines() {
    const decoder = new TextDecoder();
    let buffered = "";
    for await (const chunk of child.stdout) {
      buffered += decoder.decode(chunk, { stream: true });
      const parts = buffered.split("\n");
      buffered = parts.pop()!;
      yield* parts;
    }
    if (buffered) yield buffered;
  }
  return { child, lines, stderr: () => stderrText, stderrShows };
}

/** The step numbers of the complete checkpoints (DONE markers) in `dir`, ascending. */
export function doneSteps(dir: string): number[] {
  const steps: number[] = [];
  for (const e of Deno.readDirSync(dir)) {
    const m = /^DONE_(\d{8})$/.exec(e.name);
    if (m) steps.push(Number(m[1]));
  }
  return steps.sort((a, b) => a - b);
}

/** Asserts-style check used by every CLI failure case: exactly one stderr line and no stack trace. */
export function oneLine(run: Run): string {
  const lines = run.stderr.trim().split("\n");
  if (lines.length !== 1 || run.stderr.includes("    at ")) {
    throw new Error(`expected one stderr line without a stack trace, got:\n${run.stderr}`);
  }
  return lines[0];
}
