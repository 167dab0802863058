import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { preproTinyShakespeare, TINYSHAKESPEARE_SHA256 } from "../../prepro/tinyshakespeare.ts";
import { preproText, tokenizeDocuments } from "../../prepro/text.ts";
import { readShard } from "../../prepro/shard.ts";
import { decode, encode } from "../../prepro/tokenizer.ts";
import { UserError } from "../../util/errors.ts";
import { GPT2_EOT } from "../../model/config.ts";
import { withTempDir } from "../_temp.ts";

const SHAKESPEARE = fileURLToPath(new URL("../../../shared/data/tinyshakespeare/input.txt", import.meta.url));
const SMALL = fileURLToPath(new URL("../testdata/prepro/small.txt", import.meta.url));
const haveShakespeare = await Deno.stat(SHAKESPEARE).then(() => true, () => false);

async function sha256File(path: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test("tokenizeDocuments: EOT before each section, '\\n\\n' kept on all but the last", () => {
  const text = "A b.\n\nC\n\n\nD";
  const sections = ["A b.\n\n", "C\n\n", "\nD"];
  assert.deepEqual(tokenizeDocuments(text), sections.flatMap((s) => [GPT2_EOT, ...encode(s)]));
  assert.deepEqual(tokenizeDocuments(""), [GPT2_EOT]);
});

Deno.test({
  name: "prepro tinyshakespeare matches llm.c: 32,768 + 305,260 tokens, first tokens, readable shards",
  async fn(t) {
    if (!haveShakespeare) {
      console.warn(`%cSKIPPED: ${SHAKESPEARE} is absent (../shared is not beside this clone)`, "color: yellow");
      return;
    }
    await withTempDir(async (dir) => {
      const r = await preproTinyShakespeare({ from: SHAKESPEARE, outDir: dir });
      assert.equal(r.sha256, TINYSHAKESPEARE_SHA256);
      assert.equal(r.val.tokens, 32_768);
      assert.equal(r.train.tokens, 305_260);
      assert.equal(r.tokens, 338_028);
      assert.equal(r.val.path, `${dir}/tiny_shakespeare_val.bin`);
      assert.equal(r.train.path, `${dir}/tiny_shakespeare_train.bin`);
      const val = await readShard(r.val.path);
      const train = await readShard(r.train.path);
      assert.equal(val.length, 32_768);
      assert.equal(train.length, 305_260);
      assert.deepEqual([...val.subarray(0, 10)], [GPT2_EOT, 5962, 22307, 25, 198, 8421, 356, 5120, 597, 2252]);
      assert.equal((await Deno.stat(r.val.path)).size, 1024 + 2 * 32_768);
      assert.equal((await Deno.stat(r.tokenizer.path)).size > 1024 + 50_257, true);
      // Whole-file hashes, so any byte that changes fails. They equal the output of an independent Python
      // re-implementation of llm.c's tinyshakespeare.py (GPT-2 regex + tiktoken's merge rule) on the same input.
      assert.equal(await sha256File(r.val.path), "fe99db720dc7c83e694806d4e047a952909411da1daccde4ccc2e55f40882a62");
      assert.equal(await sha256File(r.train.path), "8a70606be574040c26d225694f5f9759973b419852d22f7fe5c118e1b359dcc8");
      await t.step("decoding all tokens without the EOTs gives back the text", async () => {
        const all = [...val, ...train];
        const original = await Deno.readTextFile(SHAKESPEARE);
        assert.equal(all.filter((x) => x === GPT2_EOT).length, original.split("\n\n").length);
        assert.equal(decode(all.filter((x) => x !== GPT2_EOT)), original);
      });
    });
  },
});

Deno.test("prepro tinyshakespeare refuses a file with the wrong sha256", async () => {
  await withTempDir(async (dir) => {
    await assert.rejects(
      preproTinyShakespeare({ from: SMALL, outDir: dir }),
      (e: Error) =>
        e instanceof UserError && e.message.startsWith(SMALL) && /not the canonical Tiny Shakespeare/.test(e.message),
    );
    assert.deepEqual([...Deno.readDirSync(dir)], [], "nothing written");
  });
});

Deno.test("prepro tinyshakespeare: an unreachable URL says to pass --from", async () => {
  await assert.rejects(
    preproTinyShakespeare({ from: "http://127.0.0.1:9/input.txt", outDir: "/nonexistent" }),
    (e: Error) =>
      e instanceof UserError && /^http:\/\/127\.0\.0\.1:9\/input\.txt: download failed .*--from PATH/.test(e.message),
  );
});

Deno.test("prepro text: val is the first fraction of the tokens, names from the file stem", async () => {
  await withTempDir(async (dir) => {
    const r = await preproText(SMALL, { valFraction: 0.25, outDir: dir });
    const tokens = tokenizeDocuments(await Deno.readTextFile(SMALL));
    const nVal = Math.floor(tokens.length * 0.25);
    assert.equal(r.tokens, tokens.length);
    assert.equal(r.val.path, `${dir}/small_val.bin`);
    assert.equal(r.train.path, `${dir}/small_train.bin`);
    assert.deepEqual([...await readShard(r.val.path)], tokens.slice(0, nVal));
    assert.deepEqual([...await readShard(r.train.path)], tokens.slice(nVal));
    assert.ok((await Deno.stat(`${dir}/gpt2_tokenizer.bin`)).isFile);
  });
});

Deno.test("prepro text: CRLF line ends count as blank-line separators, like Python's universal newlines", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/crlf.txt`, "One.\r\n\r\nTwo.\r\n\r\nThree.\r\n\r\nFour.");
    await Deno.writeTextFile(`${dir}/lf.txt`, "One.\n\nTwo.\n\nThree.\n\nFour.");
    const a = await preproText(`${dir}/crlf.txt`, { valFraction: 0.5, outDir: dir });
    const b = await preproText(`${dir}/lf.txt`, { valFraction: 0.5, outDir: dir });
    assert.deepEqual(await readShard(a.train.path), await readShard(b.train.path));
  });
});

Deno.test("prepro text: bad input is a one-line UserError naming the file", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeFile(`${dir}/bad.txt`, new Uint8Array([0x48, 0x69, 0xff, 0xfe]));
    await Deno.writeTextFile(`${dir}/tiny.txt`, "Hi");
    const cases: [string, RegExp][] = [
      [`${dir}/missing.txt`, /cannot read input text \(no such file/],
      [`${dir}/bad.txt`, /not valid UTF-8/],
      [`${dir}/tiny.txt`, /only 2 tokens, too few to split/],
    ];
    for (const [path, re] of cases) {
      await assert.rejects(preproText(path, { outDir: dir }), (e: Error) => {
        assert.ok(e instanceof UserError);
        assert.ok(e.message.startsWith(path), e.message);
        assert.match(e.message, re);
        return true;
      });
    }
    await assert.rejects(preproText(SMALL, { valFraction: 1, outDir: dir }), /--val-fraction must be between 0 and 1/);
  });
});

Deno.test("prepro text reads http:// and file:// URLs like a path", async () => {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async () => new Response(await Deno.readFile(SMALL)),
  );
  try {
    await withTempDir(async (dir) => {
      const fromPath = await preproText(SMALL, { outDir: `${dir}/a` });
      const fromHttp = await preproText(`http://127.0.0.1:${server.addr.port}/texts/small.txt`, { outDir: `${dir}/b` });
      const fromFile = await preproText(new URL("../testdata/prepro/small.txt", import.meta.url).href, {
        outDir: `${dir}/c`,
      });
      for (const r of [fromHttp, fromFile]) {
        assert.equal(r.sha256, fromPath.sha256);
        assert.equal(r.train.path.endsWith("small_train.bin"), true);
        assert.deepEqual(await Deno.readFile(r.train.path), await Deno.readFile(fromPath.train.path));
      }
    });
  } finally {
    await server.shutdown();
  }
});
