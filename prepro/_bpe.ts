/**
 * GPT-2 byte-level BPE over the `gpt2` ranks shipped by `js-tiktoken`. Private to `prepro/`; the public API is
 * `tokenizer.ts`.
 *
 * Encoding follows tiktoken (what llm.c's scripts call): the text is split into pieces by GPT-2's pre-tokenizer
 * regex, each piece's UTF-8 bytes are merged pairwise, always merging the adjacent pair whose concatenation has
 * the lowest rank (leftmost on ties), until no pair is a token. The regex spells out `\s` as Unicode White_Space
 * (as tiktoken's Rust regex does) because JavaScript's `\s` differs: it includes U+FEFF and omits U+0085.
 *
 * Speed (the dataset prepro commands spend nearly all their time here, one copy per tokenizing Worker): a text's
 * pieces are memoized, and both the memo and the rank table are open-addressing hash tables in typed arrays, keyed
 * by the piece's UTF-16 code units and by token bytes. With `Map`s keyed by strings, V8 first looked every fresh
 * substring up in its string table, then walked the map's chains: two scattered lookups per piece, which took
 * most of the time and, with a Worker per core, contended for the shared L3 cache. Here no substring is made for
 * a piece seen before (the regex runs sticky, with `test`, which allocates nothing either), and a miss is merged
 * over scratch arrays, updating only the two ranks beside each merge.
 *
 * @module
 */
// Full `npm:` specifier, not the import map: mod.ts must work when imported from a URL, where no deno.json applies.
import gpt2Ranks from "npm:js-tiktoken@1.0.21/ranks/gpt2";
import { GPT2_VOCAB_SIZE } from "../model/config.ts";
import { MEMO_MAX_PIECE, PieceMemo, TokenArray } from "./_piece_memo.ts";

export { TokenArray } from "./_piece_memo.ts";

/** Unicode White_Space, the meaning of `\s` in tiktoken's regex engine. */
const WS = "\\t\\n\\v\\f\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
/** GPT-2's pre-tokenizer: contractions, letters, digits, other symbols, whitespace runs. */
export const GPT2_PATTERN = new RegExp(
  `'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^${WS}\\p{L}\\p{N}]+|[${WS}]+(?![^${WS}])|[${WS}]+`,
  "gu",
);
/**
 * The same pattern, sticky: every code point is a letter, a digit, white space or something else, so a piece
 * starts at every position and the pieces tile the text; `test` then gives each piece's end without allocating.
 */
const PIECE = new RegExp(GPT2_PATTERN.source, "uy");

/**
 * The vocabulary: token `id`'s raw bytes are `pool[offset[id] .. offset[id] + length[id])` (`bytes[id]`, views
 * made on first use, for decoding); `ranks` finds an ordinary token by its bytes.
 */
export interface BpeTables {
  pool: Uint8Array;
  offset: Int32Array;
  length: Int32Array;
  ranks: RankTable;
  specials: Record<string, number>;
  readonly bytes: Uint8Array[];
}

let tables: BpeTables | undefined;

/**
 * Parses the ranks once (about 25 ms; each tokenizing Worker does it). They are lines of `<prefix> <first id>
 * <base64 token> <base64 token>...`, consecutive tokens of a line having consecutive ids; the special token
 * (`<|endoftext|>` = 50256) comes separately.
 */
export function bpeTables(): BpeTables {
  if (tables) return tables;
  const src = gpt2Ranks.bpe_ranks;
  const specials = gpt2Ranks.special_tokens;
  const ids = GPT2_VOCAB_SIZE;
  const encoded = Object.entries(specials).map(([text, id]) => [new TextEncoder().encode(text), id] as const);
  const pool = new Uint8Array(((src.length * 3) >> 2) + encoded.reduce((n, [b]) => n + b.length, 0));
  const offset = new Int32Array(ids).fill(-1), length = new Int32Array(ids);
  // One pass over the characters: field 0 of a line is its prefix, field 1 its first id, the rest base64 tokens.
  let used = 0, field = 0, id = 0, bits = 0, nbits = 0, ordinary = 0;
  for (let i = 0; i <= src.length; i++) {
    const c = i < src.length ? src.charCodeAt(i) : 0x0a;
    if (c === 0x20 || c === 0x0a) {
      if (field >= 2) {
        if (id >= ids) throw new Error(`The GPT-2 ranks from js-tiktoken have more than ${ids} tokens`);
        length[id] = used - offset[id];
        ordinary = Math.max(ordinary, ++id);
      }
      field = c === 0x0a ? 0 : field + 1;
      if (field >= 2) {
        offset[id] = used;
        bits = nbits = 0;
      } else if (field === 1) id = 0;
    } else if (field === 1) {
      id = 10 * id + c - 0x30;
    } else if (field >= 2 && c !== 0x3d) { // "=" is padding
      const v = c < 128 ? BASE64[c] : 255;
      if (v === 255) throw new Error(`The GPT-2 ranks from js-tiktoken hold a bad base64 character at ${i}`);
      bits = ((bits << 6) | v) & 0xffffff;
      nbits += 6;
      if (nbits >= 8) {
        nbits -= 8;
        pool[used++] = (bits >> nbits) & 0xff;
      }
    }
  }
  for (const [b, special] of encoded) {
    offset[special] = used;
    length[special] = b.length;
    pool.set(b, used);
    used += b.length;
  }
  const missing = offset.indexOf(-1);
  if (missing >= 0) throw new Error(`The GPT-2 ranks from js-tiktoken have no token ${missing}`);
  let views: Uint8Array[] | undefined;
  tables = {
    pool,
    offset,
    length,
    ranks: new RankTable(pool, offset, length, ordinary), // a special token is never the result of a merge
    specials,
    get bytes() {
      return views ??= Array.from({ length: ids }, (_, id) => pool.subarray(offset[id], offset[id] + length[id]));
    },
  };
  return tables;
}

const BASE64 = new Uint8Array(128).fill(255);
for (let i = 0; i < 64; i++) {
  BASE64["ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".charCodeAt(i)] = i;
}

/** 32-bit FNV-1a step; {@linkcode finish} mixes the result so that its low bits index a table well. */
function mix(h: number, unit: number): number {
  return Math.imul(h ^ unit, 0x01000193);
}
const FNV_START = 0x811c9dc5 | 0;
function finish(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x45d9f3b);
  return h ^ (h >>> 16);
}

/**
 * Token bytes -> rank (the token id), an open-addressing table: `slots` holds (hash, id + 1) pairs, linear
 * probing; a token's bytes are `pool[start[id] .. start[id + 1])`.
 */
export class RankTable {
  #pool: Uint8Array;
  #start: Int32Array;
  #slots: Int32Array;
  #mask: number;

  /**
   * @param pool Token bytes.
   * @param offset Where token `id`'s bytes start in `pool`.
   * @param length How many there are.
   * @param count Ids `0 .. count` go in the table.
   */
  constructor(pool: Uint8Array, offset: Int32Array, length: Int32Array, count: number) {
    const start = new Int32Array(count + 1);
    for (let id = 0; id < count; id++) start[id + 1] = start[id] + length[id];
    const packed = new Uint8Array(start[count]);
    for (let id = 0; id < count; id++) packed.set(pool.subarray(offset[id], offset[id] + length[id]), start[id]);
    let size = 1;
    while (size < 2 * count) size *= 2;
    const slots = new Int32Array(2 * size);
    const mask = size - 1;
    for (let id = 0; id < count; id++) {
      const h = hashBytes(packed, start[id], start[id + 1]);
      let i = h & mask;
      while (slots[2 * i + 1] !== 0) i = (i + 1) & mask;
      slots[2 * i] = h;
      slots[2 * i + 1] = id + 1;
    }
    this.#pool = packed;
    this.#start = start;
    this.#slots = slots;
    this.#mask = mask;
  }

  /**
   * The rank of `bytes[from..to)` as one token, or -1 when it is not one.
   *
   * @param bytes Any bytes.
   * @param from First byte.
   * @param to End (exclusive).
   * @returns The token id, or -1.
   */
  get(bytes: Uint8Array, from: number, to: number): number {
    const h = hashBytes(bytes, from, to);
    const slots = this.#slots, pool = this.#pool, start = this.#start, n = to - from;
    for (let i = h & this.#mask;; i = (i + 1) & this.#mask) {
      const id = slots[2 * i + 1] - 1;
      if (id < 0) return -1;
      if (slots[2 * i] !== h || start[id + 1] - start[id] !== n) continue;
      let k = 0;
      for (const at = start[id]; k < n && pool[at + k] === bytes[from + k]; k++);
      if (k === n) return id;
    }
  }
}

function hashBytes(bytes: Uint8Array, from: number, to: number): number {
  let h = FNV_START;
  for (let i = from; i < to; i++) h = mix(h, bytes[i]);
  return finish(h);
}

const memo = new PieceMemo();

/**
 * Appends the tokens of `text` (no special tokens: `<|endoftext|>` is plain text here) to `out`. Pieces are
 * memoized: text repeats its words, so most pieces are looked up, not merged.
 */
export function encodeOrdinaryTo(text: string, out: TokenArray): void {
  const { ranks } = bpeTables();
  for (let from = 0; from < text.length;) {
    PIECE.lastIndex = from;
    let to: number;
    if (PIECE.test(text)) {
      to = PIECE.lastIndex;
    } else { // not expected (see PIECE); find the next piece as matchAll would
      GPT2_PATTERN.lastIndex = from;
      const m = GPT2_PATTERN.exec(text);
      if (m === null) break;
      from = m.index;
      to = from + m[0].length;
    }
    let h = FNV_START;
    for (let i = from; i < to; i++) h = mix(h, text.charCodeAt(i));
    h = finish(h);
    if (!memo.lookup(text, from, to, h, out)) {
      const idsFrom = out.length;
      bytePairEncode(utf8Into(text, from, to), ranks, out);
      memo.insert(text, from, to, h, out, idsFrom);
    }
    from = to;
  }
}

/** {@linkcode encodeOrdinaryTo} into a plain array. */
export function encodeOrdinaryInto(text: string, out: number[]): void {
  const tokens = new TokenArray();
  encodeOrdinaryTo(text, tokens);
  for (let i = 0; i < tokens.length; i++) out.push(tokens.data[i]);
}

/** Scratch of {@linkcode utf8Into} and {@linkcode bytePairEncode}, grown for long pieces. */
let pieceBytes = new Uint8Array(3 * MEMO_MAX_PIECE);
let partStart = new Int32Array(pieceBytes.length + 1);
let partId = new Int32Array(pieceBytes.length);
let pairRank = new Int32Array(pieceBytes.length);

/**
 * UTF-8 of `text[from..to)` into the scratch bytes, as `TextEncoder` writes it (a lone surrogate as U+FFFD).
 *
 * @returns A view of the bytes.
 */
function utf8Into(text: string, from: number, to: number): Uint8Array {
  if (3 * (to - from) > pieceBytes.length) {
    pieceBytes = new Uint8Array(3 * (to - from));
    partStart = new Int32Array(pieceBytes.length + 1);
    partId = new Int32Array(pieceBytes.length);
    pairRank = new Int32Array(pieceBytes.length);
  }
  const b = pieceBytes;
  let n = 0;
  for (let i = from; i < to; i++) {
    let c = text.charCodeAt(i);
    if (c < 0x80) {
      b[n++] = c;
    } else if (c < 0x800) {
      b[n++] = 0xc0 | (c >> 6);
      b[n++] = 0x80 | (c & 0x3f);
    } else {
      if (c >= 0xd800 && c < 0xe000) {
        const d = i + 1 < to ? text.charCodeAt(i + 1) : 0;
        if (c < 0xdc00 && d >= 0xdc00 && d < 0xe000) {
          const cp = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
          b[n++] = 0xf0 | (cp >> 18);
          b[n++] = 0x80 | ((cp >> 12) & 0x3f);
          b[n++] = 0x80 | ((cp >> 6) & 0x3f);
          b[n++] = 0x80 | (cp & 0x3f);
          i++;
          continue;
        }
        c = 0xfffd;
      }
      b[n++] = 0xe0 | (c >> 12);
      b[n++] = 0x80 | ((c >> 6) & 0x3f);
      b[n++] = 0x80 | (c & 0x3f);
    }
  }
  return b.subarray(0, n);
}

/**
 * BPE of one piece's UTF-8 bytes, appended to `out`. Part i is `piece[start[i] .. start[i + 1])`, token `id[i]`;
 * `rank[i]` is the rank of parts i and i + 1 joined (-1: not a token). Each round joins the pair of lowest rank
 * (the leftmost of equals); only the ranks beside it change.
 */
function bytePairEncode(piece: Uint8Array, ranks: RankTable, out: TokenArray): void {
  const n = piece.length;
  const whole = ranks.get(piece, 0, n);
  if (whole >= 0) return out.push(whole);
  const start = partStart, id = partId, rank = pairRank;
  for (let i = 0; i <= n; i++) start[i] = i;
  for (let i = 0; i < n; i++) id[i] = ranks.get(piece, i, i + 1);
  for (let i = 0; i + 1 < n; i++) rank[i] = ranks.get(piece, i, i + 2);
  let parts = n;
  for (;;) {
    let best = -1, at = -1;
    for (let i = 0; i + 1 < parts; i++) {
      const r = rank[i];
      if (r >= 0 && (best < 0 || r < best)) {
        best = r;
        at = i;
      }
    }
    if (at < 0) break;
    id[at] = best; // parts at and at + 1 become one: remove start[at + 1], id[at + 1], rank[at + 1]
    for (let i = at + 1; i < parts; i++) start[i] = start[i + 1];
    for (let i = at + 1; i + 1 < parts; i++) id[i] = id[i + 1];
    for (let i = at + 1; i + 2 < parts; i++) rank[i] = rank[i + 1];
    parts--;
    if (at + 1 < parts) rank[at] = ranks.get(piece, start[at], start[at + 2]);
    if (at > 0) rank[at - 1] = ranks.get(piece, start[at - 1], start[at + 1]);
  }
  for (let i = 0; i < parts; i++) out.push(id[i]);
}
