/** `gpt2 convert` as a child process: local-only help, the missing-path error, and `--json`. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { assertOneLineError, gpt2, gpt2At, jsonLines, testdata } from "./_cli.ts";

Deno.test("gpt2 convert --help: the examples are local paths and it says nothing is downloaded", async () => {
  const r = await gpt2("convert", "--help");
  assert.equal(r.code, 0, r.stderr);
  assert.ok(!r.stdout.includes("convert openai-community/gpt2"), "a Hub id used as an example IN");
  assert.match(r.stdout, /gpt2 convert \.\/gpt2-hf\/ gpt2_124M\.bin/);
  assert.match(r.stdout, /nothing is\s+downloaded/);
  assert.match(r.stdout, /huggingface-cli download openai-community\/gpt2/);
  assert.match(r.stdout, /--json/);
});

for (const input of ["./no-such-dir", "openai-community/gpt2"]) {
  Deno.test(`gpt2 convert ${input} out.bin: one line saying the path does not exist, exit 1`, async () => {
    const cwd = await Deno.makeTempDir(); // no such local folder there
    try {
      const out = join(cwd, "out.bin");
      const r = await gpt2("convert", join(cwd, input), out);
      const line = assertOneLineError(
        r,
        1,
        `${join(cwd, input)}: cannot read model: no such file or folder`,
        "local Hugging Face folder (config.json + model.safetensors)",
        "llm.c .bin",
        "nothing is downloaded",
      );
      assert.ok(!line.includes("cannot read model checkpoint"), line);
      assert.ok(!(await Deno.stat(out).then(() => true, () => false)), "an output file was written");
    } finally {
      await Deno.remove(cwd, { recursive: true });
    }
  });
}

Deno.test("gpt2 convert openai-community/gpt2 (relative, a Hub id): the error says how to download it", async () => {
  const cwd = await Deno.makeTempDir();
  try {
    const r = await gpt2At(cwd, "convert", "openai-community/gpt2", "gpt2_124M.bin");
    assertOneLineError(
      r,
      1,
      "openai-community/gpt2: cannot read model: no such file or folder",
      "huggingface-cli download",
    );
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
});

Deno.test("gpt2 convert --json: one JSON object per direction, nothing else on stdout", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const bin = join(dir, "fixture.bin");
    const toLlmc = await gpt2("convert", testdata("hf"), bin, "--bf16", "--json");
    assert.equal(toLlmc.code, 0, toLlmc.stderr);
    const [a, ...restA] = jsonLines(toLlmc.stdout);
    assert.equal(restA.length, 0, toLlmc.stdout);
    assert.deepEqual(
      { ...a, config: undefined },
      {
        type: "end",
        input: testdata("hf"),
        output: bin,
        direction: "huggingface-to-llmc",
        version: 5,
        config: undefined,
      },
    );
    assert.deepEqual(a.config, {
      maxSeqLen: 32,
      vocabSize: 97,
      paddedVocabSize: 128,
      numLayers: 2,
      numHeads: 3,
      channels: 30,
    });

    const hf = join(dir, "hf");
    const toHf = await gpt2("convert", testdata("small", "model.bin"), hf, "--json");
    assert.equal(toHf.code, 0, toHf.stderr);
    const events = jsonLines(toHf.stdout);
    assert.equal(events.length, 1, toHf.stdout);
    assert.equal(events[0].direction, "llmc-to-huggingface");
    assert.equal(events[0].version, 3);
    assert.equal((events[0].config as { channels: number }).channels, 64);
    assert.ok((await Deno.stat(join(hf, "model.safetensors"))).isFile);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("gpt2 convert --json: errors stay one line on stderr, stdout empty", async () => {
  const r = await gpt2("convert", "/no/such/dir", "out.bin", "--json");
  assertOneLineError(r, 1, "/no/such/dir: cannot read model: no such file or folder");
  assert.equal(r.stdout, "");
});
