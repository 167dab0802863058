/**
 * `prepro fineweb` against tests/testdata/datasets/fineweb/ (made by tests/testdata/make_datasets.ts: two Parquet
 * files with several row groups, snappy and gzip pages, a .jsonl.gz and a .jsonl). llm.c's fineweb.py rule is
 * checked independently of how the code streams: the expected shards are the concatenation of EOT + tokens of
 * every document, in input order, cut every `shardSize` tokens.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { parquetWriteBuffer } from "hyparquet-writer";
import { fineWebInputs, preproFineWeb } from "../../prepro/fineweb.ts";
import { DataLoader } from "../../prepro/dataloader.ts";
import { readShard } from "../../prepro/shard.ts";
import { encode } from "../../prepro/tokenizer.ts";
import { GPT2_EOT } from "../../model/config.ts";
import { UserError } from "../../util/errors.ts";
import { withTempDir } from "../_temp.ts";
import { assertOneLineError, gpt2 } from "../commands/_cli.ts";

const DATA = fileURLToPath(new URL("../testdata/datasets/", import.meta.url));
const FW = `${DATA}fineweb`;
const DOCS: string[] = JSON.parse(await Deno.readTextFile(`${DATA}fineweb_expected.json`)).documents;
const ALL = DOCS.flatMap((d) => [GPT2_EOT, ...encode(d)]);

async function shardTokens(paths: string[]): Promise<number[][]> {
  return await Promise.all(paths.map(async (p) => [...await readShard(p)]));
}

Deno.test("prepro fineweb: shards of exactly --shard-size tokens, val first, documents split across boundaries", async () => {
  await withTempDir(async (dir) => {
    const shardSize = 97;
    const r = await preproFineWeb([FW], { outDir: dir, shardSize, workers: 2 });
    assert.equal(r.documents, DOCS.length);
    assert.equal(r.tokens, ALL.length);
    const n = Math.ceil(ALL.length / shardSize);
    assert.deepEqual(
      r.shards.map((s) => [s.path, s.split, s.tokens]),
      Array.from({ length: n }, (_, i) => [
        `${dir}/fineweb_${i === 0 ? "val" : "train"}_${String(i).padStart(6, "0")}.bin`,
        i === 0 ? "val" : "train",
        Math.min(shardSize, ALL.length - i * shardSize),
      ]),
    );
    const want = Array.from({ length: n }, (_, i) => ALL.slice(i * shardSize, (i + 1) * shardSize));
    assert.deepEqual(await shardTokens(r.shards.map((s) => s.path)), want);
    const longest = Math.max(...DOCS.map((d) => encode(d).length));
    assert.ok(longest > 2 * shardSize, "one document spans more than two shards");
    assert.ok(DOCS.includes("") && DOCS.some((d) => d.includes("<|endoftext|>")));

    // The data loader reads the train shards through its pattern.
    using loader = await DataLoader.open(`${dir}/fineweb_train_*.bin`, { B: 1, T: 8 });
    assert.equal(loader.files.length, n - 1);
    assert.deepEqual([...loader.next().inputs], ALL.slice(shardSize, shardSize + 8));
  });
});

Deno.test("prepro fineweb: inputs as files and patterns; a shard size that divides the total leaves no empty shard", async () => {
  assert.deepEqual(
    (await fineWebInputs([FW])).map((p) => p.slice(FW.length + 1)),
    ["000_00000.parquet", "001_00000.parquet", "002_extra.jsonl.gz", "003_extra.jsonl"],
  );
  await withTempDir(async (dir) => {
    const r = await preproFineWeb([`${FW}/00[23]_*.jsonl*`, `${FW}/001_00000.parquet`], { outDir: dir, workers: 1 });
    const docs = [...DOCS.slice(20), ...DOCS.slice(14, 20)]; // jsonl files first, as given, then the parquet
    assert.deepEqual(r.shards.map((s) => s.path), [`${dir}/fineweb_val_000000.bin`]);
    assert.deepEqual(await shardTokens([r.shards[0].path]), [docs.flatMap((d) => [GPT2_EOT, ...encode(d)])]);

    const exact = await preproFineWeb([FW], { outDir: `${dir}/exact`, shardSize: ALL.length / 4, workers: 2 });
    assert.deepEqual(exact.shards.map((s) => s.tokens), [1, 2, 3, 4].map(() => ALL.length / 4));
  });
  assert.equal(ALL.length % 4, 0, "the fixture's token count is a multiple of 4");
});

async function rejectsFineWeb(inputs: string[], out: string, re: RegExp, shardSize = 5): Promise<void> {
  await assert.rejects(preproFineWeb(inputs, { outDir: out, shardSize, workers: 1 }), (e: Error) => {
    assert.ok(e instanceof UserError, `${e}`);
    assert.ok(!e.message.includes("\n"), "one line");
    assert.match(e.message, re);
    return true;
  });
  const left = await Array.fromAsync(Deno.readDir(out)).catch(() => []);
  assert.deepEqual(left.map((e) => e.name), [], `nothing left behind for ${re}`);
}

function parquet(columns: { name: string; data: unknown[]; type: "STRING" | "INT32" | "BYTE_ARRAY" }[]): Uint8Array {
  return new Uint8Array(parquetWriteBuffer({ columnData: columns as never, rowGroupSize: 2 }));
}

Deno.test("prepro fineweb: bad Parquet files are one-line UserErrors naming the file and row; nothing is left", async () => {
  await withTempDir(async (dir) => {
    const fixture = await Deno.readFile(`${FW}/000_00000.parquet`);
    const damaged = fixture.slice();
    for (let i = 100; i < 140; i++) damaged[i] ^= 0x5a;
    const files: [string, Uint8Array, RegExp][] = [
      [
        "no_text.parquet",
        parquet([{ name: "content", data: ["a"], type: "STRING" }]),
        /no_text\.parquet: no "text" column \(its columns: content\)$/,
      ],
      [
        "int_text.parquet",
        parquet([{ name: "text", data: [1, 2], type: "INT32" }]),
        /int_text\.parquet: the "text" column holds INT32, not strings$/,
      ],
      [
        "null.parquet",
        parquet([{ name: "text", data: ["a", "b", "c", null], type: "STRING" }]),
        /null\.parquet: row 3: the text is null$/,
      ],
      [
        "bytes.parquet",
        parquet([{ name: "text", data: ["ok", "fine", new Uint8Array([0x68, 0xff])], type: "STRING" }]),
        /bytes\.parquet: row 2: the text is not valid UTF-8$/,
      ],
      [
        "garbage.parquet",
        new TextEncoder().encode("PAR1 not really"),
        /garbage\.parquet: not a Parquet file, or a corrupt one \(/,
      ],
      [
        "cut.parquet",
        fixture.subarray(0, 1000),
        /cut\.parquet: not a Parquet file, or a corrupt one \(parquet file invalid/,
      ],
      ["damaged.parquet", damaged, /damaged\.parquet: corrupt Parquet data in row group 0 \(/],
    ];
    for (const [name, bytes, re] of files) {
      await Deno.writeFile(`${dir}/${name}`, bytes);
      // After the good fixture, so that shards were already complete when the bad file fails.
      await rejectsFineWeb([`${FW}/003_extra.jsonl`, `${dir}/${name}`], `${dir}/out`, re);
    }
  });
});

Deno.test("prepro fineweb: bad JSON Lines name the file and line; missing inputs are one-line errors", async () => {
  await withTempDir(async (dir) => {
    const gz = async (text: string) =>
      new Uint8Array(
        await new Response(new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"))).arrayBuffer(),
      );
    const good = '{"text": "one"}\n{"text": "two"}\n';
    const corrupt = (await gz(good.repeat(20))).slice();
    for (let i = 15; i < 30; i++) corrupt[i] ^= 0x5a;
    const files: [string, Uint8Array, RegExp][] = [
      ["bad.jsonl", new TextEncoder().encode(good + '{"text": "x"\n'), /bad\.jsonl: line 3: invalid JSON \(/],
      [
        "num.jsonl",
        new TextEncoder().encode(good + '{"text": 3}\n'),
        /num\.jsonl: line 3: the object has a "text" that is number, not a string$/,
      ],
      [
        "none.jsonl.gz",
        await gz(good + '\n{"body": "x"}\n'),
        /none\.jsonl\.gz: line 4: the object has no "text" field, not a string$/,
      ],
      [
        "array.jsonl",
        new TextEncoder().encode('["text"]\n'),
        /array\.jsonl: line 1: expected a JSON object with a "text" string, got array$/,
      ],
      [
        "utf8.jsonl",
        new Uint8Array([...new TextEncoder().encode(good), 0x7b, 0xff, 0x7d, 0x0a]),
        /utf8\.jsonl: line 3: not valid UTF-8 text$/,
      ],
      ["corrupt.jsonl.gz", corrupt, /corrupt\.jsonl\.gz: (corrupt gzip data|line \d+: )/],
      ["empty.jsonl", new Uint8Array(0), /empty\.jsonl: no documents found$/],
    ];
    for (const [name, bytes, re] of files) {
      await Deno.writeFile(`${dir}/${name}`, bytes);
      await rejectsFineWeb([`${dir}/${name}`], `${dir}/out`, re, name === "empty.jsonl" ? 5 : 1);
    }
    await rejectsFineWeb(
      [`${dir}/nope.parquet`],
      `${dir}/out`,
      /nope\.parquet: cannot read FineWeb input \(no such file/,
    );
    await rejectsFineWeb([`${dir}/nope_*.parquet`], `${dir}/out`, /nope_\*\.parquet: no files match this pattern$/);
    await rejectsFineWeb(
      [`${DATA}tinystories`],
      `${dir}/out`,
      /tinystories: no \.parquet, \.jsonl or \.jsonl\.gz files/,
    );
    await rejectsFineWeb(
      [`${DATA}tinystories_pax.tar`],
      `${dir}/out`,
      /tinystories_pax\.tar: not a \.parquet, \.jsonl/,
    );
  });
});

Deno.test("gpt2 prepro fineweb: prints its shards; bad input exits 1 with one line, bad flags exit 2", async () => {
  await withTempDir(async (dir) => {
    const r = await gpt2("prepro", "fineweb", "--from", FW, "--out", dir, "--shard-size", "500", "--workers", "2");
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      new RegExp(`^fineweb: ${ALL.length.toLocaleString("en-US")} tokens, 28 documents from 4 files`),
    );
    assert.match(
      r.stdout,
      /fineweb_val_000000\.bin +500 tokens \(val\)\n.*fineweb_train_000001\.bin +500 tokens \(train\)/,
    );
    await Deno.writeFile(`${dir}/no_text.parquet`, parquet([{ name: "body", data: ["a"], type: "STRING" }]));
    assertOneLineError(
      await gpt2("prepro", "fineweb", `${dir}/no_text.parquet`, "--out", `${dir}/o`),
      1,
      /no "text" column/,
    );
    assertOneLineError(await gpt2("prepro", "fineweb"), 2, "The fineweb dataset needs its files");
    assertOneLineError(await gpt2("prepro", "fineweb", FW, "--shard-size", "0"), 2, "--shard-size must be an integer");
  });
});

Deno.test("prepro fineweb: JSON Lines longer than one Worker job give the same bytes on 1 and 2 workers, and global line numbers", async () => {
  await withTempDir(async (dir) => {
    // About 3 MB of lines: more than one run of lines handed to a Worker (JSONL_CHUNK_BYTES, 2 MiB).
    const lines = Array.from(
      { length: 30_000 },
      (_, i) => JSON.stringify({ text: `Story ${i % 97}: ${"ab ".repeat(30)}` }),
    );
    const text = lines.join("\n") + "\n";
    assert.ok(text.length > (2 << 20), "the file spans more than one job");
    await Deno.writeTextFile(`${dir}/docs.jsonl`, text);
    const one = await preproFineWeb([`${dir}/docs.jsonl`], { outDir: `${dir}/one`, shardSize: 100_000, workers: 1 });
    const two = await preproFineWeb([`${dir}/docs.jsonl`], { outDir: `${dir}/two`, shardSize: 100_000, workers: 2 });
    assert.equal(one.documents, lines.length);
    assert.equal(two.documents, lines.length);
    assert.ok(one.shards.length > 2);
    const bytes = (r: typeof one) => Promise.all(r.shards.map((s) => Deno.readFile(s.path)));
    assert.deepEqual(await bytes(two), await bytes(one));
    assert.deepEqual(
      [...await readShard(one.shards[0].path)].slice(0, 5),
      [GPT2_EOT, ...encode(JSON.parse(lines[0]).text)].slice(0, 5),
    );
    // A bad line far past the first job is named by its line in the file.
    const bad = [...lines.slice(0, 25_000), '{"text": 5}', ...lines.slice(25_000)].join("\n");
    await Deno.writeFile(
      `${dir}/bad.jsonl.gz`,
      new Uint8Array(
        await new Response(new Blob([bad]).stream().pipeThrough(new CompressionStream("gzip"))).arrayBuffer(),
      ),
    );
    await rejectsFineWeb(
      [`${dir}/bad.jsonl.gz`],
      `${dir}/out`,
      /bad\.jsonl\.gz: line 25001: the object has a "text" that is number, not a string$/,
      1_000_000,
    );
  });
});
