/**
 * GPT-2 byte-level BPE over the `gpt2` ranks shipped by `js-tiktoken`. Private to `prepro/`; the public API is
 * `tokenizer.ts`.
 *
 * Encoding follows tiktoken (what llm.c's scripts call): the text is split into pieces by GPT-2's pre-tokenizer
 * regex, each piece's UTF-8 bytes are merged pairwise, always merging the adjacent pair whose concatenation has
 * the lowest rank (leftmost on ties), until no pair is a token. The regex spells out `\s` as Unicode White_Space
 * (as tiktoken's Rust regex does) because JavaScript's `\s` differs: it includes U+FEFF and omits U+0085.
 *
 * @module
 */
// Full `npm:` specifier, not the import map: mod.ts must work when imported from a URL, where no deno.json applies.
import gpt2Ranks from "npm:js-tiktoken@1.0.21/ranks/gpt2";

/** Unicode White_Space, the meaning of `\s` in tiktoken's regex engine. */
const WS = "\\t\\n\\v\\f\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
/** GPT-2's pre-tokenizer: contractions, letters, digits, other symbols, whitespace runs. */
export const GPT2_PATTERN = new RegExp(
  `'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^${WS}\\p{L}\\p{N}]+|[${WS}]+(?![^${WS}])|[${WS}]+`,
  "gu",
);

/** Id -> raw bytes of every token, and bytes (as a latin1 string) -> id. */
export interface BpeTables {
  bytes: Uint8Array[];
  ranks: Map<string, number>;
  specials: Record<string, number>;
}

let tables: BpeTables | undefined;

/**
 * Parses the ranks once. They are lines of `<prefix> <first id> <base64 token> <base64 token>...`, consecutive
 * tokens of a line having consecutive ids; the special token (`<|endoftext|>` = 50256) comes separately.
 */
export function bpeTables(): BpeTables {
  if (tables) return tables;
  const bytes: Uint8Array[] = [];
  const ranks = new Map<string, number>();
  for (const line of gpt2Ranks.bpe_ranks.split("\n")) {
    if (!line) continue;
    const fields = line.split(" ");
    const first = Number.parseInt(fields[1], 10);
    for (let i = 2; i < fields.length; i++) {
      const latin1 = atob(fields[i]);
      const b = new Uint8Array(latin1.length);
      for (let k = 0; k < latin1.length; k++) b[k] = latin1.charCodeAt(k);
      bytes[first + i - 2] = b;
      ranks.set(latin1, first + i - 2);
    }
  }
  const specials = gpt2Ranks.special_tokens;
  for (const [text, id] of Object.entries(specials)) bytes[id] = new TextEncoder().encode(text);
  for (let i = 0; i < bytes.length; i++) {
    if (!bytes[i]) throw new Error(`The GPT-2 ranks from js-tiktoken have no token ${i}`);
  }
  tables = { bytes, ranks, specials };
  return tables;
}

const utf8 = new TextEncoder();
const CACHE_LIMIT = 1 << 18;
const cache = new Map<string, number[]>();

/**
 * Appends the tokens of `text` (no special tokens: `<|endoftext|>` is plain text here) to `out`. Pieces are
 * memoized: text repeats its words, so most pieces are looked up, not merged.
 */
export function encodeOrdinaryInto(text: string, out: number[]): void {
  const { ranks } = bpeTables();
  for (const match of text.matchAll(GPT2_PATTERN)) {
    const piece = match[0];
    let ids = cache.get(piece);
    if (ids === undefined) {
      ids = bytePairEncode(latin1(utf8.encode(piece)), ranks);
      if (cache.size >= CACHE_LIMIT) cache.clear();
      cache.set(piece, ids);
    }
    for (let i = 0; i < ids.length; i++) out.push(ids[i]);
  }
}

function latin1(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
  return s;
}

/** BPE of one piece, given as a latin1 string (one char per byte). */
function bytePairEncode(piece: string, ranks: Map<string, number>): number[] {
  const whole = ranks.get(piece);
  if (whole !== undefined) return [whole];
  // starts[i]..starts[i+1] is part i; merging parts i and i+1 removes starts[i+1].
  const starts: number[] = [];
  for (let i = 0; i <= piece.length; i++) starts.push(i);
  while (starts.length > 2) {
    let best = Infinity;
    let at = -1;
    for (let i = 0; i + 2 < starts.length; i++) {
      const rank = ranks.get(piece.slice(starts[i], starts[i + 2]));
      if (rank !== undefined && rank < best) {
        best = rank;
        at = i;
      }
    }
    if (at < 0) break;
    starts.splice(at + 1, 1);
  }
  const ids: number[] = [];
  for (let i = 0; i + 1 < starts.length; i++) ids.push(ranks.get(piece.slice(starts[i], starts[i + 1]))!);
  return ids;
}
