import assert from "node:assert/strict";
import {
  decode,
  decodeBytes,
  encode,
  LLMC_TOKENIZER_MAGIC,
  llmcTokenizerBytes,
  StreamingDecoder,
  tokenBytes,
  writeLlmcTokenizer,
} from "../../prepro/tokenizer.ts";
import { GPT2_EOT, GPT2_VOCAB_SIZE } from "../../model/config.ts";

const TRICKY = [
  "Hello world",
  "  leading and   multiple   spaces  \n\n\n tabs\t\there  ",
  "naïve café — “quotes” 🙂👍🏽 emoji",
  "日本語のテキスト，中文です。",
  "<|endoftext|> as text<|endoftext|>",
  "don't you'll I'VE 's 'S",
  "123 4567 3.14159 ١٢٣",
  "a\u00a0b \u3000c",
  "x\u0085y \ufeffz",
  "\r\nwindows\r\n",
  "",
];

Deno.test("encode then decode gives back tricky text", () => {
  for (const text of TRICKY) {
    const ids = encode(text);
    assert.ok(ids.every((id) => Number.isInteger(id) && id >= 0 && id < GPT2_EOT), JSON.stringify(text));
    assert.equal(decode(ids), text);
  }
});

// Expected ids: "Hello world" is GPT-2's classic example; the others come from an independent reference, Python's
// `regex` module with GPT-2's pattern and tiktoken's merge rule over the same ranks. The last case is where
// JavaScript's `\s` (with U+FEFF, without U+0085) would split differently from tiktoken's.
Deno.test("encode matches reference ids", () => {
  assert.deepEqual(encode("Hello world"), [15496, 995]);
  assert.deepEqual(
    encode("naïve café — “quotes” 🙂👍🏽 emoji"),
    [2616, 38776, 40304, 851, 564, 250, 421, 6421, 447, 251, 32485, 41840, 235, 8582, 237, 121, 44805],
  );
  assert.deepEqual(
    encode("  leading and   multiple   spaces  \n\n\n tabs\t\there  "),
    [220, 3756, 290, 220, 220, 3294, 220, 220, 9029, 220, 220, 628, 198, 22524, 197, 197, 1456, 220, 220],
  );
  assert.deepEqual(encode("x\u0085y \ufeffz"), [87, 126, 227, 88, 27332, 119, 123, 89]);
});

Deno.test("<|endoftext|> is plain text unless allowSpecial", () => {
  const plain = encode("a<|endoftext|>b");
  assert.ok(!plain.includes(GPT2_EOT));
  assert.equal(decode(plain), "a<|endoftext|>b");
  const special = encode("a<|endoftext|>b", { allowSpecial: true });
  assert.deepEqual(special, [...encode("a"), GPT2_EOT, ...encode("b")]);
  assert.equal(decode([GPT2_EOT]), "<|endoftext|>");
});

Deno.test("StreamingDecoder holds back a character split across tokens", () => {
  // 🙂 is 4 UTF-8 bytes spread over several byte-level tokens.
  const ids = encode("🙂");
  assert.ok(ids.length > 1, "emoji should need more than one token");
  const dec = new StreamingDecoder();
  for (const id of ids.slice(0, -1)) assert.equal(dec.push(id), "", "no text before the character is complete");
  assert.equal(dec.push(ids.at(-1)!), "🙂");
  assert.equal(dec.flush(), "");

  let text = "";
  const all = encode("naïve café — 🙂👍🏽 日本語");
  for (const id of all) text += dec.push(id);
  assert.equal(text + dec.flush(), "naïve café — 🙂👍🏽 日本語");

  dec.push(ids[0]);
  assert.equal(dec.flush(), "\ufffd", "an incomplete character at the end flushes as U+FFFD");
});

Deno.test("tokenBytes are raw bytes, including partial UTF-8", () => {
  assert.deepEqual([...tokenBytes(198)], [10]);
  assert.deepEqual([...tokenBytes(15496)], [...new TextEncoder().encode("Hello")]);
  assert.deepEqual([...tokenBytes(GPT2_EOT)], [...new TextEncoder().encode("<|endoftext|>")]);
  const emoji = new TextEncoder().encode("🙂");
  assert.deepEqual([...decodeBytes(encode("🙂"))], [...emoji]);
  assert.throws(() => tokenBytes(GPT2_VOCAB_SIZE), RangeError);
});

Deno.test("gpt2_tokenizer.bin has llm.c's layout", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/gpt2_tokenizer.bin`;
    await writeLlmcTokenizer(path);
    const bin = await Deno.readFile(path);
    assert.deepEqual(bin, llmcTokenizerBytes());
    const header = new DataView(bin.buffer, 0, 1024);
    assert.equal(header.getInt32(0, true), LLMC_TOKENIZER_MAGIC);
    assert.equal(header.getInt32(4, true), 2);
    assert.equal(header.getInt32(8, true), GPT2_VOCAB_SIZE);
    assert.equal(header.getInt32(12, true), GPT2_EOT);
    for (let i = 4; i < 256; i++) assert.equal(header.getInt32(4 * i, true), 0);
    // Walk the records: length byte + bytes, one per token id.
    const tokens: Uint8Array[] = [];
    let at = 1024;
    while (at < bin.length) {
      const n = bin[at];
      tokens.push(bin.subarray(at + 1, at + 1 + n));
      at += 1 + n;
    }
    assert.equal(at, bin.length);
    assert.equal(tokens.length, GPT2_VOCAB_SIZE);
    const text = (id: number) => new TextDecoder().decode(tokens[id]);
    assert.deepEqual([...tokens[0]], [33]); // "!"
    // GPT-2 orders the 256 byte tokens printable first: byte 0xff is token 187 and byte 0x00 token 188, stored as
    // the raw byte (not as the printable stand-in "ÿ" or "Ā" of GPT-2's vocab.json).
    assert.deepEqual([...tokens[187]], [0xff]);
    assert.deepEqual([...tokens[188]], [0x00]);
    assert.equal(text(198), "\n");
    assert.equal(text(15496), "Hello");
    assert.equal(text(995), " world");
    assert.equal(text(GPT2_EOT), "<|endoftext|>");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
