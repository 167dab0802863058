/** `gpt2 generate` as a child process: `--json` events, the missing-model error and token-count wording. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { assertOneLineError, gpt2, jsonLines } from "./_cli.ts";

/** A random model with GPT-2's vocabulary, small enough for the CPU. */
const SPEC = "layers=1,heads=2,channels=16,seq=32";

Deno.test("gpt2 generate --json: start, one token event per token, end; every stdout line is JSON", async () => {
  const args = ["-e", SPEC, "--prompt", "Hello", "-n", "12", "--seed", "3", "--device", "cpu"];
  const r = await gpt2("generate", ...args, "--json");
  assert.equal(r.code, 0, r.stderr);
  const events = jsonLines(r.stdout);
  const [start, ...rest] = events;
  const end = rest.pop()!;
  assert.equal(start.type, "start");
  assert.equal(start.model, SPEC);
  assert.equal(typeof start.device, "string");
  assert.equal(start.promptTokens, 1); // "Hello" is one GPT-2 token
  assert.equal(start.newTokens, 12);
  assert.equal(rest.length, 12);
  for (const e of rest) {
    assert.equal(e.type, "token", JSON.stringify(e));
    assert.ok(Number.isInteger(e.token) && (e.token as number) >= 0 && (e.token as number) < 50257);
    assert.equal(typeof e.text, "string");
  }
  assert.equal(end.type, "end");
  assert.equal(end.tokens, 12);
  assert.ok((end.seconds as number) > 0 && (end.tokensPerSecond as number) > 0, JSON.stringify(end));
  assert.ok((end.text as string).startsWith(rest.map((e) => e.text).join("")));

  // The same sampling as the text output: prompt + continuation.
  const text = await gpt2("generate", ...args);
  assert.equal(text.code, 0, text.stderr);
  assert.equal(text.stdout, "Hello" + end.text + "\n");
});

Deno.test("gpt2 generate --json -n 0: one line saying -n needs a token, exit 2, nothing on stdout", async () => {
  const r = await gpt2("generate", "-e", SPEC, "-n", "0", "--device", "cpu", "--json");
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr.trim(), /^gpt2 generate: -n: must be an integer >= 1, got 0$/);
  assert.equal(r.stdout, "");
});

Deno.test("gpt2 generate -e a missing path: one line saying so, that nothing is downloaded, exit 1", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const missing = join(dir, "openai-community", "gpt2");
    const r = await gpt2("generate", "-e", missing, "--json");
    assertOneLineError(
      r,
      1,
      `${missing}: cannot read model: no such file or folder`,
      "local Hugging Face folder",
      "nothing is downloaded",
    );
    assert.equal(r.stdout, "");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("gpt2 generate -n too many: '1 token', not '1 tokens'", async () => {
  const r = await gpt2("generate", "-e", "layers=1,heads=1,channels=8,seq=4", "-n", "5");
  assertOneLineError(r, 2, "the prompt (1 token) plus 5 new tokens needs 5 positions");
  const one = await gpt2("generate", "-e", "layers=1,heads=1,channels=8,seq=4", "--prompt", "a b c d e", "-n", "1");
  assertOneLineError(one, 2, "the prompt (5 tokens) plus 1 new token needs 5 positions");
});
