/**
 * `prepro tinystories` against tests/testdata/datasets/, whose expected story order and texts were computed by
 * tests/testdata/make_datasets.py with Python's own random.shuffle and str.strip (llm.c's tinystories.py rule).
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { preproTinyStories } from "../../prepro/tinystories.ts";
import { readShard } from "../../prepro/shard.ts";
import { encode } from "../../prepro/tokenizer.ts";
import { GPT2_EOT } from "../../model/config.ts";
import { UserError } from "../../util/errors.ts";
import { withTempDir } from "../_temp.ts";
import { assertOneLineError, gpt2 } from "../commands/_cli.ts";

const DATA = fileURLToPath(new URL("../testdata/datasets/", import.meta.url));
const EXPECTED: { val: string[]; train: string[] } = JSON.parse(
  await Deno.readTextFile(`${DATA}tinystories_expected.json`),
);
const tokensOf = (stories: string[]) => stories.flatMap((s) => [GPT2_EOT, ...encode(s)]);

Deno.test("prepro tinystories: .tar.gz, pax .tar and a directory all give llm.c's shards, story by story", async () => {
  await withTempDir(async (dir) => {
    for (
      const [from, workers] of [["tinystories.tar.gz", 2], ["tinystories_pax.tar", 1], ["tinystories", 3]] as const
    ) {
      const out = `${dir}/${from}`;
      const r = await preproTinyStories({ from: DATA + from, outDir: out, workers });
      assert.deepEqual(r.shards.map((s) => [s.path, s.split]), [
        [`${out}/TinyStories_val.bin`, "val"],
        [`${out}/TinyStories_train.bin`, "train"],
      ]);
      assert.deepEqual([...await readShard(`${out}/TinyStories_val.bin`)], tokensOf(EXPECTED.val), `${from}: val`);
      assert.deepEqual(
        [...await readShard(`${out}/TinyStories_train.bin`)],
        tokensOf(EXPECTED.train),
        `${from}: train`,
      );
      assert.equal(r.documents, EXPECTED.val.length + EXPECTED.train.length);
      assert.equal(r.tokens, r.shards[0].tokens + r.shards[1].tokens);
      assert.equal(r.workers, workers);
      assert.ok((await Deno.stat(`${out}/gpt2_tokenizer.bin`)).isFile);
      assert.deepEqual([...Deno.readDirSync(out)].map((e) => e.name).sort(), [
        "TinyStories_train.bin",
        "TinyStories_val.bin",
        "gpt2_tokenizer.bin",
      ]);
    }
  });
  // The fixture covers what it should: Python-only whitespace was stripped, U+FEFF and a literal EOT text kept.
  const all = [...EXPECTED.val, ...EXPECTED.train];
  assert.ok(all.some((s) => s.includes("<|endoftext|>")) && all.some((s) => s.startsWith("\ufeff")));
  assert.ok(all.includes(""), "a whitespace-only story strips to '' and still gets its EOT");
  const raw: string[] = [];
  for (const e of Deno.readDirSync(`${DATA}tinystories`)) {
    if (!e.name.endsWith(".json") || e.name.startsWith(".")) continue;
    const shard = JSON.parse(await Deno.readTextFile(`${DATA}tinystories/${e.name}`));
    raw.push(...shard.map((x: { story: string }) => x.story));
  }
  for (const ws of ["\u001f", "\u0085"]) {
    assert.ok(raw.some((s) => s.startsWith(ws) || s.endsWith(ws)), `a story starts or ends with ${JSON.stringify(ws)}`);
  }
});

async function rejectsTinyStories(from: string, out: string, re: RegExp): Promise<void> {
  await assert.rejects(preproTinyStories({ from, outDir: out, workers: 1 }), (e: Error) => {
    assert.ok(e instanceof UserError, `${e}`);
    assert.ok(!e.message.includes("\n"), "one line");
    assert.match(e.message, re);
    return true;
  });
  const left = await Array.fromAsync(Deno.readDir(out)).catch(() => []);
  assert.deepEqual(left.map((e) => e.name), [], `nothing written for ${re}`);
}

Deno.test("prepro tinystories: bad shards are one-line UserErrors naming the file, and nothing is written", async () => {
  await withTempDir(async (dir) => {
    const shards = `${dir}/shards`;
    await Deno.mkdir(shards);
    const good = JSON.stringify([{ story: "Once." }, { story: "Twice." }]);
    const cases: [string, string | Uint8Array, RegExp][] = [
      ["data01.json", '[{"story": "a"},\n {"story": x}]', /data01\.json: invalid JSON \(Unexpected token/],
      ["data01.json", '[{"story": "a"', /data01\.json: invalid JSON .*line 1 column 15/],
      [
        "data01.json",
        '[{"story": "a"}, {"story": 7}]',
        /data01\.json: element 1 of the array has a "story" that is number, not a string$/,
      ],
      ["data01.json", '[{"story": "a"}, {"text": "b"}]', /data01\.json: element 1 of the array has no "story" field$/],
      ["data01.json", '[{"story": "a"}, "b"]', /data01\.json: element 1 of the array is string, not an object$/],
      [
        "data01.json",
        '{"story": "a"}',
        /data01\.json: expected a JSON array of \{"story": \.\.\.\} objects, got object$/,
      ],
      [
        "data01.json",
        new Uint8Array([0x5b, 0x0a, 0x22, 0xff, 0x22, 0x5d]),
        /data01\.json: not valid UTF-8 text \(line 2\)$/,
      ],
    ];
    for (const [name, content, re] of cases) {
      await Deno.writeTextFile(`${shards}/data00.json`, good);
      if (typeof content === "string") await Deno.writeTextFile(`${shards}/${name}`, content);
      else await Deno.writeFile(`${shards}/${name}`, content);
      await rejectsTinyStories(shards, `${dir}/out`, re);
    }
    await Deno.remove(`${shards}/data01.json`);
    await rejectsTinyStories(shards, `${dir}/out`, /shards: 1 \*\.json shard found; TinyStories needs at least 2/);
    await rejectsTinyStories(
      `${dir}/nope.tar.gz`,
      `${dir}/out`,
      /nope\.tar\.gz: cannot read TinyStories archive \(no such file/,
    );
  });
});

Deno.test("prepro tinystories: a corrupt, cut or non-tar archive is a one-line UserError", async () => {
  await withTempDir(async (dir) => {
    const archive = await Deno.readFile(`${DATA}tinystories.tar.gz`);
    const flipped = archive.slice();
    for (let i = 200; i < 260; i++) flipped[i] ^= 0x5a;
    const notTar = new Uint8Array(
      await new Response(new Blob(["hello ".repeat(300)]).stream().pipeThrough(new CompressionStream("gzip")))
        .arrayBuffer(),
    );
    const cases: [string, Uint8Array, RegExp][] = [
      ["flipped.tar.gz", flipped, /flipped\.tar\.gz: (corrupt gzip data|not a tar archive)/],
      ["cut.tar.gz", archive.subarray(0, archive.length - 300), /cut\.tar\.gz: (corrupt gzip data|truncated tar)/],
      ["text.tar.gz", notTar, /text\.tar\.gz: not a tar archive, or a corrupt one \(bad header checksum at byte 0\)$/],
    ];
    for (const [name, bytes, re] of cases) {
      await Deno.writeFile(`${dir}/${name}`, bytes);
      await rejectsTinyStories(`${dir}/${name}`, `${dir}/out`, re);
    }
  });
});

Deno.test("gpt2 prepro tinystories: prints its shards, --json, and one-line errors (exit 1) for bad input", async () => {
  await withTempDir(async (dir) => {
    const r = await gpt2(
      "prepro",
      "tinystories",
      "--from",
      `${DATA}tinystories.tar.gz`,
      "--out",
      dir,
      "--workers",
      "2",
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^tinystories: 844 tokens, 62 documents from .*tinystories\.tar\.gz .* on 2 workers/);
    assert.match(r.stdout, /TinyStories_val\.bin +65 tokens \(val\)/);
    assert.match(r.stdout, /TinyStories_train\.bin +779 tokens \(train\)/);
    const j = await gpt2("prepro", "tinystories", "--from", `${DATA}tinystories`, "--out", dir, "--json");
    assert.equal(j.code, 0, j.stderr);
    const result = JSON.parse(j.stdout);
    assert.deepEqual(result.shards.map((s: { tokens: number }) => s.tokens), [65, 779]);
    assert.equal(j.stderr, "", "no progress line when stderr is not a terminal");

    await Deno.writeTextFile(`${dir}/bad.tar.gz`, "not gzip, not tar");
    assertOneLineError(
      await gpt2("prepro", "tinystories", "--from", `${dir}/bad.tar.gz`, "--out", `${dir}/o`),
      1,
      /bad\.tar\.gz: /,
    );
    assertOneLineError(
      await gpt2(
        "prepro",
        "tinystories",
        "--from",
        "http://127.0.0.1:9/TinyStories_all_data.tar.gz",
        "--out",
        `${dir}/o`,
      ),
      1,
      /^gpt2 prepro: http:\/\/127\.0\.0\.1:9\/TinyStories_all_data\.tar\.gz: download failed .*--from PATH$/,
    );
    assertOneLineError(await gpt2("prepro", "tinystories", "--workers", "0"), 2, "--workers must be at least 1");
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), [
      "TinyStories_train.bin",
      "TinyStories_val.bin",
      "bad.tar.gz",
      "gpt2_tokenizer.bin",
    ]);
  });
});

/** A ustar archive of `files` in the order given; a name over 100 bytes goes in a GNU long-name entry first. */
function tarOf(files: [string, Uint8Array][]): Uint8Array {
  const blocks: Uint8Array[] = [];
  const entry = (name: string, type: string, data: Uint8Array) => {
    const h = new Uint8Array(512);
    const put = (s: string, at: number) => h.set(new TextEncoder().encode(s), at);
    put(name, 0);
    put("0000644\0", 100);
    put(data.length.toString(8).padStart(11, "0") + "\0", 124);
    put(type, 156);
    put("ustar\x0000", 257);
    put("        ", 148);
    put(h.reduce((a, b) => a + b, 0).toString(8).padStart(6, "0") + "\0 ", 148);
    blocks.push(h, data, new Uint8Array((512 - data.length % 512) % 512));
  };
  for (const [name, data] of files) {
    if (name.length > 100) entry("././@LongLink", "L", new TextEncoder().encode(name + "\0"));
    entry(name.slice(0, 100), "0", data);
  }
  blocks.push(new Uint8Array(1024));
  const out = new Uint8Array(blocks.reduce((n, b) => n + b.length, 0));
  let at = 0;
  for (const b of blocks) out.set(b, (at += b.length) - b.length);
  return out;
}

Deno.test("prepro tinystories: an archive in name order is read once; out of order, twice; same bytes on 1 or 2 workers", async () => {
  await withTempDir(async (dir) => {
    const names = [...Deno.readDirSync(`${DATA}tinystories`)].map((e) => e.name).filter((n) => n.endsWith(".json"));
    const files = await Promise.all(
      names.sort().map(async (n) => [n, await Deno.readFile(`${DATA}tinystories/${n}`)] as [string, Uint8Array]),
    );
    assert.ok(files.length >= 3, "the fixture has a val shard and several train shards");
    await Deno.writeFile(`${dir}/sorted.tar`, tarOf(files));
    await Deno.writeFile(`${dir}/reversed.tar`, tarOf([...files].reverse()));
    const outputs: Uint8Array[][] = [];
    for (const [archive, workers] of [["sorted", 1], ["sorted", 2], ["reversed", 2]] as const) {
      const out = `${dir}/out_${archive}_${workers}`;
      const r = await preproTinyStories({ from: `${dir}/${archive}.tar`, outDir: out, workers });
      assert.equal(r.documents, EXPECTED.val.length + EXPECTED.train.length);
      outputs.push([await Deno.readFile(r.shards[0].path), await Deno.readFile(r.shards[1].path)]);
      assert.deepEqual([...await readShard(r.shards[0].path)], tokensOf(EXPECTED.val), `${archive}, ${workers}: val`);
    }
    assert.deepEqual(outputs[1], outputs[0], "2 workers write the bytes 1 worker writes");
    assert.deepEqual(outputs[2], outputs[0], "archive order does not matter");
    // A bad shard in an archive read once is still named, and nothing is left.
    files[1] = [files[1][0], new TextEncoder().encode('[{"story": 7}]')];
    await Deno.writeFile(`${dir}/bad.tar`, tarOf(files));
    await rejectsTinyStories(
      `${dir}/bad.tar`,
      `${dir}/out_bad`,
      new RegExp(`bad\\.tar:${files[1][0]}: element 0 of the array has a "story" that is number, not a string$`),
    );
  });
});
