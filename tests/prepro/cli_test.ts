import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { gpt2At } from "../commands/_cli.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const SHAKESPEARE = fileURLToPath(new URL("../../../shared/data/tinyshakespeare/input.txt", import.meta.url));
const haveShakespeare = await Deno.stat(SHAKESPEARE).then(() => true, () => false);

/** `gpt2 …` run from the repository root. */
const gpt2 = (...args: string[]) => gpt2At(ROOT, ...args);

/** Exit 1, exactly one line on stderr matching `re`, no stack trace. */
function assertOneLineError(r: { code: number; stderr: string }, re: RegExp): void {
  const lines = r.stderr.trimEnd().split("\n");
  assert.equal(r.code, 1, r.stderr);
  assert.equal(lines.length, 1, `one line expected:\n${r.stderr}`);
  assert.ok(!/\bat /.test(r.stderr), `no stack trace expected:\n${r.stderr}`);
  assert.match(lines[0], re);
}

Deno.test("gpt2 prepro: bad input exits 1 with one line and no stack trace", async () => {
  const dir = await Deno.makeTempDir();
  try {
    assertOneLineError(
      await gpt2("prepro", "text", `${dir}/nope.txt`),
      /^gpt2 prepro: .*nope\.txt: cannot read input text/,
    );
    assertOneLineError(
      await gpt2("prepro", "tinyshakespeare", "--from", `${dir}/nope.txt`, "--out", dir),
      /^gpt2 prepro: .*nope\.txt: cannot read input text/,
    );
    await Deno.writeTextFile(`${dir}/other.txt`, "Not Shakespeare.\n\nAt all.");
    assertOneLineError(
      await gpt2("prepro", "tinyshakespeare", "--from", `${dir}/other.txt`, "--out", dir),
      /other\.txt: not the canonical Tiny Shakespeare input\.txt .*sha256/,
    );
    assertOneLineError(
      await gpt2("prepro", "wikitext"),
      /^gpt2 prepro: Unknown dataset 'wikitext'; known datasets: tinyshakespeare, text, tinystories, fineweb, hellaswag$/,
    );
    // An output directory that cannot be created (its parent is a file): a one-line error, not an OS stack trace.
    assertOneLineError(
      await gpt2("prepro", "text", `${dir}/other.txt`, "--val-fraction", "0.5", "--out", `${dir}/other.txt/sub`),
      /other\.txt\/sub\/other_val\.bin: cannot create directory .*other\.txt\/sub \(not a directory\)$/,
    );
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["other.txt"], "nothing written");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("gpt2 prepro: bad flags exit 2 with one line", async () => {
  const r = await gpt2("prepro", "text", "x.txt", "--val-fraction", "lots");
  assert.equal(r.code, 2);
  assert.match(r.stderr.trim(), /^gpt2 prepro: --val-fraction: 'lots' is not a number$/);
  const help = await gpt2("prepro", "--help");
  assert.equal(help.code, 0);
  assert.match(help.stdout, /tinyshakespeare/);
});

Deno.test("gpt2 prepro text --json prints one JSON object", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = fileURLToPath(new URL("../testdata/prepro/small.txt", import.meta.url));
    const r = await gpt2("prepro", "text", file, "--out", dir, "--val-fraction", "0.2", "--json");
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout);
    assert.equal(result.dataset, "text");
    assert.equal(result.val.path, `${dir}/small_val.bin`);
    assert.equal(result.val.tokens + result.train.tokens, result.tokens);
    assert.equal(result.val.tokens, Math.floor(result.tokens * 0.2));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "gpt2 prepro tinyshakespeare --from prints what it wrote",
  ignore: !haveShakespeare,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const r = await gpt2("prepro", "tinyshakespeare", "--from", SHAKESPEARE, "--out", dir);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /338,028 tokens/);
      assert.match(r.stdout, /tiny_shakespeare_val\.bin +32,768 tokens/);
      assert.match(r.stdout, /tiny_shakespeare_train\.bin +305,260 tokens/);
      assert.match(r.stdout, / in \d+\.\d\d s/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("gpt2 prepro hellaswag --from FILE --json: writes the fixture's eval file byte for byte", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const r = await gpt2(
      "prepro",
      "hellaswag",
      "--from",
      "tests/testdata/hellaswag/mini_val.jsonl",
      "--out",
      dir,
      "--json",
    );
    assert.equal(r.code, 0, r.stderr);
    JSON.parse(r.stdout); // one JSON object
    const [got, want] = await Promise.all([
      Deno.readFile(`${dir}/hellaswag_val.bin`),
      Deno.readFile(`${ROOT}tests/testdata/hellaswag/mini_val.bin`),
    ]);
    assert.deepEqual(got, want);
    const extra = await gpt2("prepro", "hellaswag", "stray", "--out", dir);
    assert.equal(extra.code, 2, extra.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
