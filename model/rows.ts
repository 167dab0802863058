/**
 * Row ranges of incremental decoding: which rows of a sequence (or of several interleaved samples) a forward pass
 * computes, and how `GPT2.forwardRows` cuts a range into pieces that fit an inference model's rows in flight; and the
 * check of the tokens fed to those rows.
 *
 * @module
 */
import { UserError } from "../util/errors.ts";

/**
 * Rows `start … start + count - 1` of a B = 1 sequence (incremental decoding), or of `samples` sequences decoded
 * together, interleaved position-major (row r is position ⌊r / samples⌋ of sample r mod samples; see
 * layers/attention_decode.ts); undefined: all B·T rows.
 */
export interface RowRange {
  start: number;
  count: number;
  /** Samples interleaved in the rows (default 1). */
  samples?: number;
  /**
   * The row that activations planned for rows in flight hold first (row r sits at r - base in every activation but
   * the KV cache); 0 or absent for activations that hold every row.
   */
  base?: number;
}

/** One piece of a range: its rows, where the activations in flight hold them, and whether it is the last. */
export type RowPiece = Required<RowRange> & { last: boolean };

/**
 * Checks a range against a model at (B, T) and cuts it into pieces of whole positions that fit `rowsInFlight`.
 *
 * @param rows The range (`samples` ≤ B; its end within samples·T and within the `tokens` given, if any).
 * @param B The model's batch size.
 * @param T The model's sequence length.
 * @param rowsInFlight The model's rows in flight (undefined: all rows, one piece).
 * @param options `tokens`: how many token ids the caller passed; `logits`: whether every row's logits are wanted.
 * @returns The pieces, in order.
 * @throws RangeError for a range outside the model, or that cannot be cut to fit.
 * @example
 * ```ts
 * import { rowPieces } from "./rows.ts";
 * const pieces = rowPieces({ start: 0, count: 10 }, 1, 16, 4, {});
 * if (pieces.map((p) => p.count).join() !== "4,4,2" || !pieces[2].last) throw new Error("pieces of 4");
 * ```
 */
export function rowPieces(
  rows: RowRange,
  B: number,
  T: number,
  rowsInFlight: number | undefined,
  options: { tokens?: number; logits?: boolean | "last" },
): RowPiece[] {
  const S = rows.samples ?? 1;
  const end = rows.start + rows.count;
  if (!(Number.isInteger(S) && S >= 1 && S <= B)) {
    throw new RangeError(`${S} samples do not fit a model of batch size ${B}`);
  }
  if (!(rows.start >= 0 && rows.count >= 1 && end <= S * T && end <= (options.tokens ?? S * T))) {
    const what = S > 1 ? `${S} interleaved sequences` : "the sequence";
    throw new RangeError(`rows [${rows.start}, ${end}) are outside ${what} of ${T} positions`);
  }
  const piece = rowsInFlight === undefined ? rows.count : Math.floor(rowsInFlight / S) * S;
  if (piece < Math.min(S, rows.count)) {
    throw new RangeError(`${S} samples need ${S} rows in flight; this model holds ${rowsInFlight}`);
  }
  if (options.logits === true && rows.count > piece) {
    throw new RangeError(`logits of ${rows.count} rows do not fit ${rowsInFlight} rows in flight`);
  }
  const pieces: RowPiece[] = [];
  for (let start = rows.start; start < end; start += piece) {
    const count = Math.min(piece, end - start);
    const base = rowsInFlight === undefined ? 0 : start;
    pieces.push({ start, count, samples: S, base, last: start + count === end });
  }
  return pieces;
}

/**
 * The positions rows [start, end) of S interleaved sequences cover: each position's rows [lo, hi) (one span of
 * every row when S = 1, whose positions are the rows themselves).
 *
 * @param start First row.
 * @param end One past the last row.
 * @param S Samples interleaved.
 * @returns The spans, in order.
 */
export function positionsOf(start: number, end: number, S: number): { lo: number; hi: number; pos: number }[] {
  if (S === 1) return [{ lo: start, hi: end, pos: start }];
  const out = [];
  for (let pos = Math.floor(start / S); pos * S < end; pos++) {
    out.push({ lo: Math.max(start, pos * S), hi: Math.min(end, (pos + 1) * S), pos });
  }
  return out;
}

/**
 * The rows of a piece's last position (what "last" logits cover): its last row, or its last S rows.
 *
 * @param rows A piece.
 * @returns Those rows, with the piece's samples and base.
 */
export function lastPosition(rows: Required<RowRange>): Required<RowRange> {
  const end = rows.start + rows.count;
  const lo = Math.max(rows.start, Math.floor((end - 1) / rows.samples) * rows.samples);
  return { ...rows, start: lo, count: end - lo };
}

/**
 * Checks that every token is in the vocabulary, and that a whole batch holds B·T of them.
 *
 * @param tokens The tokens.
 * @param what "input" or "target", for the messages.
 * @param V Vocabulary size.
 * @param rows B·T for a whole batch; undefined for a row range.
 * @param first The range's first row (for the position in the message).
 * @throws RangeError for a batch of the wrong length; UserError naming a token outside [0, V) and its position.
 */
export function checkTokens(tokens: Int32Array, what: string, V: number, rows?: number, first = 0): void {
  if (rows !== undefined && tokens.length !== rows) {
    throw new RangeError(`${what} tokens: expected B·T = ${rows}, got ${tokens.length}`);
  }
  for (let i = 0; i < tokens.length; i++) {
    if (!(tokens[i] >= 0 && tokens[i] < V)) {
      throw new UserError(`${what} token ${tokens[i]} at position ${first + i} is outside the vocabulary [0, ${V})`);
    }
  }
}
