import assert from "node:assert/strict";

const CLI = new URL("../../cli.ts", import.meta.url).pathname;

async function gpt2(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), { args: ["run", "-A", CLI, ...args] }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

const BAD: [string[], string][] = [
  [["--bogus"], "Unknown option '--bogus'"],
  [["--batch=-1"], "-b: must be an integer >= 1"],
  [["-b", "-1"], "Option '-b' argument is ambiguous"],
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
    const flag of ["-i, --train", "-e, --model", "-b, --batch", "-d, --total-batch", "-k, --schedule", "-y, --resume"]
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
