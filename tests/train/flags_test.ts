import assert from "node:assert/strict";
import { gpt2 } from "../commands/_cli.ts";

const BAD: [string[], string][] = [
  [["--loss-scale", "static"], "--loss-scale: must be off or dynamic, got 'static'"],
  [["--bogus"], "Unknown option '--bogus'"],
  [["--batch=-1"], "-b: must be an integer >= 1"],
  [["-b", "-1"], "-b: must be an integer >= 1, got -1"],
  [["-b", "-3"], "-b: must be an integer >= 1, got -3"],
  [["-b", "-x", "3"], "-b/--batch: needs a value, got the flag '-x'"],
  [["-b"], "-b/--batch: needs a value"],
  [["-o", "-weird"], "-o/--out: needs a value, got '-weird' (a value starting with '-' is written --out=-weird)"],
  [["-t", "0"], "-t: must be an integer >= 1, got 0"],
  [["-x", "0"], "-x: must be -1 (one epoch) or >= 1, got 0"],
  [["-x", "-2"], "-x: must be -1 (one epoch) or >= 1, got -2"],
  [["-x=0"], "-x: must be -1 (one epoch) or >= 1, got 0"],
  [["-d", "0"], "-d: must be -1 (B·T) or >= 1, got 0"],
  [["-d", "-5"], "-d: must be -1 (B·T) or >= 1, got -5"],
  [["--final-lr-frac", "-5"], "-q: must be a number in [0, 1], got -5"],
  [["--final-lr-frac", "1.5"], "-q: must be a number in [0, 1], got 1.5"],
  [["--weight-decay", "-1000"], "-c: must be a number >= 0, got -1000"],
  [["-l", "-1e-3"], "-l: must be a number > 0, got -0.001"],
  [["-l", "0"], "-l: must be a number > 0, got 0"],
  [["-u", "-1"], "-u: must be an integer >= 0, got -1"],
  [["-m", "0"], "-m: must be an integer >= 1, got 0"],
  [["-g", "-1"], "-g: must be an integer >= 0, got -1"],
  [["-v", "-1"], "-v: must be an integer >= 0, got -1"],
  [["-s", "-1"], "-s: must be an integer >= 0, got -1"],
  [["-n", "-1"], "-n: must be an integer >= 0, got -1"],
  [["--seed", "-1"], "--seed: must be an integer in [0, 4294967295] (a 32-bit seed), got -1"],
  [["--seed=4294967296"], "--seed: must be an integer in [0, 4294967295] (a 32-bit seed), got 4294967296"],
  [["--overwrite=1"], "Option '--overwrite' does not take an argument"],
  // Accepted flags: each run gets past flag checking and stops at the model descriptor, which train() checks later.
  [["-x=-1", "-e", "layers=0"], "missing or zero 'layers='"],
  [["-x", "-1", "-d", "-1", "-e", "layers=0"], "missing or zero 'layers='"],
  [["--seed", "0", "-e", "layers=0"], "missing or zero 'layers='"],
  [["--seed=4294967295", "-q", "0", "-c", "0", "--overwrite", "-e", "layers=0"], "missing or zero 'layers='"],
  [["-l", "fast"], "'fast' is not a number"],
  [["-e", "d6", "-t", "2048"], "longer than the model's max_seq_len 1024"],
  [["-k", "step"], "unknown schedule 'step'"],
  [["--device", "tpu"], "unknown device 'tpu'"],
  [["-y", "2"], "-y: must be 0 or 1"],
];

for (const [args, message] of BAD) {
  Deno.test(`gpt2 train ${args.join(" ")}: one line, exit 2`, async () => {
    const { code, stderr } = await gpt2("train", ...args);
    assert.equal(code, 2, stderr);
    const lines = stderr.trim().split("\n");
    assert.equal(lines.length, 1, stderr);
    assert.ok(lines[0].includes(message), stderr);
    assert.ok(!stderr.includes("    at "), "stack trace printed");
  });
}

Deno.test("gpt2 train --help lists every flag with its default", async () => {
  const { code, stdout } = await gpt2("train", "--help");
  assert.equal(code, 0);
  for (
    const flag of [
      "-i, --train",
      "-e, --model",
      "-b, --batch",
      "-d, --total-batch",
      "-k, --schedule",
      "-y, --resume",
      "--overwrite",
    ]
  ) {
    assert.ok(stdout.includes(flag), `${flag} missing from --help`);
  }
  assert.ok(stdout.includes("(default: 3e-4)") || stdout.includes("(default: 0.0003)"), stdout);
});

Deno.test("gpt2 train: a missing token file is one line naming it, exit 1", async () => {
  const { code, stderr } = await gpt2("train", "-i", "/no/such/train.bin", "-e", "layers=1,heads=1,channels=8,seq=64");
  assert.equal(code, 1, stderr);
  assert.equal(stderr.trim().split("\n").length, 1, stderr);
  assert.ok(stderr.includes("/no/such/train.bin"), stderr);
});
