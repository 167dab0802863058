/**
 * The GPT-2 encoder (prepro/_bpe.ts: typed-array memo and rank tables, sticky pre-tokenizer, merges in scratch arrays)
 * against js-tiktoken's reference encoder over the same ranks, on random multilingual text: every token of every
 * document must match. js-tiktoken splits with JavaScript's `\s`, which counts U+FEFF as a space and U+0085 not; the
 * encoder follows tiktoken's Rust regex there (tests/prepro/tokenizer_test.ts checks those cases against Python's),
 * so documents with either character are left out of this comparison.
 */
import assert from "node:assert/strict";
import { Tiktoken } from "npm:js-tiktoken@1.0.21/lite";
import gpt2Ranks from "npm:js-tiktoken@1.0.21/ranks/gpt2";
import { encodeOrdinaryInto } from "../../prepro/_bpe.ts";

const reference = new Tiktoken(gpt2Ranks);

/** A deterministic generator (an LCG), so a failure names a reproducible document. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

const POOL = [
  " ",
  " ",
  "  ",
  "\n",
  "\n\n",
  "\t",
  "\r\n",
  "\u00a0",
  "\u3000",
  "\u2028",
  "\u200b",
  "'s",
  "'t",
  "'re",
  "'ve",
  "'m",
  "'ll",
  "'d",
  "'S",
  "'",
  '"',
  "!",
  "?",
  ".",
  ",",
  "--",
  "...",
  "$",
  "%",
  "&&",
  "0",
  "12",
  "345",
  "3.14",
  "١٢٣",
  "²",
  "½",
  "Ⅻ",
  "the",
  "The",
  "hello",
  "naïve",
  "café",
  "Москва",
  "日本語",
  "中文",
  "한국어",
  "עברית",
  "العربية",
  "🙂",
  "👍🏽",
  "👨‍👩‍👧",
  "\ud800",
  "\udfff",
  "a\u0301",
  "ß",
  "İ",
  "ǅ",
  "<|endoftext|>",
  "endoftext",
];
const LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZéèàçøåæœ";

function word(rnd: () => number, length: number): string {
  let w = "";
  for (let i = 0; i < length; i++) w += LETTERS[Math.floor(rnd() * LETTERS.length)];
  return w;
}

function piece(rnd: () => number): string {
  const r = rnd();
  if (r < 0.5) return POOL[Math.floor(rnd() * POOL.length)];
  if (r < 0.9) return word(rnd, 1 + Math.floor(rnd() * 12));
  if (r < 0.95) return " ".repeat(1 + Math.floor(rnd() * 300)); // past the memo's longest piece (256)
  return String.fromCharCode(Math.floor(rnd() * 0x10000)); // any code unit, lone surrogates included
}

function check(text: string, what: string): void {
  const ours: number[] = [];
  encodeOrdinaryInto(text, ours);
  const theirs = reference.encode(text, [], []);
  assert.deepEqual(ours, theirs, `${what}: ${JSON.stringify(text).slice(0, 300)}`);
}

Deno.test("GPT-2 encoder = js-tiktoken on 3,000 random multilingual documents", () => {
  const rnd = lcg(7);
  let compared = 0;
  for (let doc = 0; doc < 3000; doc++) {
    const pieces = Array.from({ length: 1 + Math.floor(rnd() * 60) }, () => piece(rnd));
    const text = pieces.join(rnd() < 0.5 ? "" : " ");
    if (/[\ufeff\u0085]/.test(text)) continue;
    check(text, `document ${doc}`);
    compared++;
  }
  // Only a random code unit can be U+FEFF or U+0085 (the pool has neither): nearly every document is compared.
  assert.ok(compared >= 2990, `${compared} of 3000 documents compared`);
});

Deno.test("GPT-2 encoder after its piece memo fills and is emptied (300,000 distinct words): the same tokens", () => {
  // The memo holds 2^18 pieces, then starts over. Every chunk is encoded (most words are new to the memo, and the
  // second copy of each chunk is looked up in it); the first and last chunks are compared with js-tiktoken (all of
  // them would take ~40 s), and the first chunk, encoded again after the memo was emptied, must give the same tokens.
  const rnd = lcg(11);
  const words = Array.from({ length: 300_000 }, (_, i) => " " + word(rnd, 6 + (i % 7)) + String(i % 10));
  const chunks: string[] = [];
  for (let at = 0; at < words.length; at += 10_000) chunks.push(words.slice(at, at + 10_000).join(""));
  const first: number[][] = [];
  for (const chunk of chunks) {
    const tokens: number[] = [];
    encodeOrdinaryInto(chunk + chunk, tokens);
    first.push(tokens);
  }
  assert.deepEqual(first[0], reference.encode(chunks[0] + chunks[0], [], []), "the first chunk");
  assert.deepEqual(first.at(-1), reference.encode(chunks.at(-1)! + chunks.at(-1)!, [], []), "the last chunk");
  const again: number[] = [];
  encodeOrdinaryInto(chunks[0] + chunks[0], again);
  assert.deepEqual(again, first[0], "the first chunk after the memo was emptied");
});
