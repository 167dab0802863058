import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import {
  encodeEvalFile,
  type EvalExample,
  parseEvalFile,
  parseHellaswagJsonl,
  preproHellaswag,
  readEvalFile,
} from "../../prepro/hellaswag.ts";
import { encode } from "../../prepro/tokenizer.ts";
import { UserError } from "../../util/errors.ts";
import { withTempDir } from "../_temp.ts";

const fixture = (name: string) => fileURLToPath(new URL(`../testdata/hellaswag/${name}`, import.meta.url));
const JSONL = fixture("mini_val.jsonl");
const COMMITTED_BIN = fixture("mini_val.bin");

/** What make_hellaswag.py recorded: the strings llm.c's hellaswag.py tokenizes, per example. */
interface Rendered {
  index: number;
  label: number;
  context: string;
  endings: string[];
}
const RENDERED: Rendered[] = JSON.parse(await Deno.readTextFile(fixture("mini_val_rendered.json")));

/**
 * The expected file, laid out here word by word from the format in llm.c's data_common.py (independently of
 * prepro/_evalfile.ts): 256 int32 header, then per example 65535, its byte count, index, label, 4, the context
 * with its length, each ending with its length.
 */
function expectedFile(rendered: Rendered[]): Uint8Array {
  const streams = rendered.map((r) => {
    const words = [0xffff, 0, r.index, r.label, r.endings.length];
    for (const tokens of [encode(r.context), ...r.endings.map((e) => encode(e))]) words.push(tokens.length, ...tokens);
    words[1] = 2 * words.length;
    return words;
  });
  const header = new Int32Array(256);
  header.set([20240522, 1, rendered.length, Math.max(...streams.map((s) => 2 * s.length))]);
  const body = Uint16Array.from(streams.flat());
  const out = new Uint8Array(header.byteLength + body.byteLength);
  out.set(new Uint8Array(header.buffer), 0);
  out.set(new Uint8Array(body.buffer), header.byteLength);
  return out;
}

Deno.test("prepro hellaswag: byte-identical to the file llm.c's hellaswag.py writes for the fixture", async () => {
  await withTempDir(async (dir) => {
    const r = await preproHellaswag({ from: JSONL, outDir: dir });
    assert.equal(r.file.path, `${dir}/hellaswag_val.bin`);
    assert.equal(r.examples, 6);
    const written = await Deno.readFile(r.file.path);
    const expected = expectedFile(RENDERED);
    assert.deepEqual(written, expected);
    assert.deepEqual(await Deno.readFile(COMMITTED_BIN), expected, "tests/testdata/hellaswag/mini_val.bin is stale");
    assert.equal(r.file.bytes, expected.length);
    assert.equal(
      r.tokens,
      RENDERED.reduce((n, x) => n + [x.context, ...x.endings].flatMap((s) => encode(s)).length, 0),
    );
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["hellaswag_val.bin"]);
  });
});

Deno.test("prepro hellaswag: the first example by hand (header, fields, leading-space endings)", async () => {
  const bytes = await Deno.readFile(COMMITTED_BIN);
  const header = new Int32Array(bytes.buffer, 0, 4);
  assert.deepEqual([...header.slice(0, 3)], [20240522, 1, 6]);
  const words = new Uint16Array(bytes.buffer, 1024, 40);
  const context = encode("A man is sitting on a roof. he");
  assert.equal(words[0], 65535);
  assert.equal(words[2], 0); // index
  assert.equal(words[3], 3); // label
  assert.equal(words[4], 4); // completions
  assert.equal(words[5], context.length);
  assert.deepEqual([...words.slice(6, 6 + context.length)], context);
  // " is" (with its space) is GPT-2 token 318; "is" alone would be 271.
  assert.equal(words[6 + context.length + 1], 318);
  assert.deepEqual(encode("is").concat(encode(" is")), [271, 318]);
  const examples = parseEvalFile(bytes, COMMITTED_BIN);
  assert.equal(words[1], 2 * (6 + context.length + examples[0].endings.reduce((n, e) => n + 1 + e.length, 0)));
  // An ending that already starts with a space gets a second one, as " " + ending does.
  assert.deepEqual(examples[2].endings[3], encode("  already spaced ending."));
  assert.equal(header[3], Math.max(...examples.map((_, i) => exampleBytesAt(bytes, i))));
});

/** The <EXAMPLE_BYTES> field of example i, found by skipping with the earlier ones' fields (as llm.c's loader). */
function exampleBytesAt(bytes: Uint8Array, i: number): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  let at = 1024;
  for (let k = 0; k < i; k++) at += view.getUint16(at + 2, true);
  return view.getUint16(at + 2, true);
}

Deno.test("parseEvalFile reads back what encodeEvalFile writes", () => {
  const examples: EvalExample[] = [
    { label: 0, context: [1, 2, 3], endings: [[4], [5, 6], [7, 8, 9], [50256]] },
    { label: 3, context: [], endings: [[1], [2], [3], [4]] },
  ];
  assert.deepEqual(parseEvalFile(encodeEvalFile(examples), "x.bin"), examples);
  assert.throws(() => encodeEvalFile([{ label: 0, context: [], endings: [[1], [2], [3]] }]), RangeError);
  assert.throws(() => encodeEvalFile([{ label: 4, context: [], endings: [[1], [2], [3], [4]] }]), RangeError);
  assert.throws(() => encodeEvalFile([{ label: 0, context: [65535], endings: [[1], [2], [3], [4]] }]), RangeError);
});

/** The fixture file with its uint16 word `w` (counted from the end of the header) set to `value`. */
async function withWord(w: number, value: number): Promise<Uint8Array> {
  const bytes = (await Deno.readFile(COMMITTED_BIN)).slice();
  new DataView(bytes.buffer).setUint16(1024 + 2 * w, value, true);
  return bytes;
}

Deno.test("parseEvalFile: one clear error naming the file for each kind of bad file", async () => {
  const good = await Deno.readFile(COMMITTED_BIN);
  const bad = (bytes: Uint8Array, pattern: RegExp) => {
    assert.throws(() => parseEvalFile(bytes, "h.bin"), (err: unknown) => {
      assert.ok(err instanceof UserError, String(err));
      assert.ok(!err.message.includes("\n"));
      assert.match(err.message, /^h\.bin: /);
      assert.match(err.message, pattern);
      return true;
    });
  };
  const header = (i: number, value: number) => {
    const b = good.slice();
    new DataView(b.buffer).setInt32(4 * i, value, true);
    return b;
  };
  bad(good.slice(0, 100), /truncated: 100 bytes, shorter than the 1024-byte header/);
  bad(header(0, 20240520), /bad magic number 20240520, expected 20240522/);
  bad(header(1, 2), /unsupported eval file version 2, expected 1/);
  bad(good.slice(0, good.length - 2), /truncated: example 5 \(byte \d+\) runs past the end of the file/);
  bad(good.slice(0, 1030), /truncated: example 0 \(byte 1024\) runs past/);
  bad(good.slice(0, good.length - 1), /truncated: \d+ bytes, an odd number/);
  bad(header(2, 7), /truncated: example 6 /);
  bad(header(2, 5), /\d+ bytes after its 5 examples/);
  bad(await withWord(0, 7), /example 0 \(byte 1024\): expected the start-of-example marker 65535, got 7/);
  bad(await withWord(2, 1), /example 0 \(byte 1024\): its index field is 1, expected 0/);
  bad(await withWord(3, 4), /example 0 \(byte 1024\): label 4 is out of range \[0, 4\)/);
  bad(await withWord(4, 5), /example 0 \(byte 1024\) has 5 endings; HellaSwag and llm.c's eval format have 4/);
  bad(await withWord(4, 3), /has 3 endings/);
  bad(await withWord(1, 2 * 8), /its ending 0 runs past the example's 16 bytes|runs past the example's 16 bytes/);
  bad(await withWord(1, 20000), /takes 20000 bytes, more than the header's longest example/);
  const contextLength = new DataView(good.buffer).getUint16(1024 + 10, true);
  bad(await withWord(6 + contextLength, 0), /example 0 \(byte 1024\): its ending 0 has no tokens/);
  await assert.rejects(readEvalFile("/no/such/hellaswag_val.bin"), /cannot read eval file \(no such file/);
});

Deno.test("parseHellaswagJsonl: one clear error naming the file and line", () => {
  const ok = '{"ctx": "A", "endings": ["a", "b", "c", "d"], "label": 0}';
  assert.equal(parseHellaswagJsonl(`${ok}\n\n${ok}\n`, "v.jsonl").length, 2);
  const bad = (text: string, pattern: RegExp) =>
    assert.throws(() => parseHellaswagJsonl(text, "v.jsonl"), (err: unknown) => {
      assert.ok(err instanceof UserError);
      assert.match(err.message, pattern);
      return true;
    });
  bad(`${ok}\n{"ctx": `, /^v\.jsonl: line 2: not JSON/);
  bad("[1, 2]", /^v\.jsonl: line 1: not a JSON object/);
  bad('{"ctx": 3, "endings": ["a", "b", "c", "d"], "label": 0}', /'ctx' must be a string/);
  bad('{"ctx": "A", "endings": ["a", "b", "c"], "label": 0}', /'endings' must be a list of 4 strings/);
  bad('{"ctx": "A", "endings": ["a", "b", "c", 4], "label": 0}', /'endings' holds something not a string/);
  bad('{"ctx": "A", "endings": ["a", "b", "c", "d"], "label": 4}', /'label' must be an integer in \[0, 4\), got 4/);
  bad('{"ctx": "A", "endings": ["a", "b", "c", "d"]}', /'label' must be an integer/);
});

Deno.test("prepro hellaswag: a failed download is one line saying how to pass a local copy", async () => {
  await withTempDir(async (dir) => {
    // Port 9 (discard) on the loopback refuses at once, with or without a network.
    const from = "http://127.0.0.1:9/hellaswag_val.jsonl";
    await assert.rejects(preproHellaswag({ from, outDir: dir }), (err: unknown) => {
      assert.ok(err instanceof UserError);
      assert.match(err.message, /^http:\/\/127\.0\.0\.1:9\/hellaswag_val\.jsonl: download failed \(.*\); download/);
      assert.match(err.message, /pass it with --from PATH$/);
      assert.ok(!err.message.includes("\n"));
      return true;
    });
    assert.deepEqual([...Deno.readDirSync(dir)], [], "nothing written");
  });
});
