/**
 * The GPT-2 encoder's storage (prepro/_bpe.ts): a growing array of token ids, and the memo of pieces already encoded
 * (open addressing in typed arrays, so a repeated piece costs one hash probe and a compare, no string table or Map).
 * Private to `prepro/`.
 *
 * @module
 */

/** A growing array of token ids (uint16: GPT-2 has 50257). */
export class TokenArray {
  /** The ids are `data[0 .. length)`; `data` is replaced as it grows. */
  data: Uint16Array<ArrayBuffer> = new Uint16Array(1 << 12);
  /** Ids held. */
  length = 0;

  /** Room for `n` more ids. */
  reserve(n: number): void {
    if (this.length + n > this.data.length) this.data = grown(this.data, this.length + n);
  }

  /** Appends one id. */
  push(id: number): void {
    this.reserve(1);
    this.data[this.length++] = id;
  }

  /** A copy of the ids, in a buffer of their size. */
  toUint16Array(): Uint16Array<ArrayBuffer> {
    return this.data.slice(0, this.length);
  }
}

/** Pieces longer than this (long runs of spaces, say) are encoded every time, not memoized. */
export const MEMO_MAX_PIECE = 256;
/** Memoized pieces; the memo is emptied when it would hold more. */
const MEMO_LIMIT = 1 << 18;

/**
 * Piece (UTF-16 code units) -> its tokens: `slots` holds (hash, entry + 1) pairs, linear probing; entry e is
 * `entries[4e .. 4e + 4)` = hash, start of its units in `units`, start of its ids in `ids`, (units << 16 | ids).
 */
export class PieceMemo {
  #slots = new Int32Array(2 << 12);
  #mask = (1 << 12) - 1;
  #entries = new Int32Array(4 << 11);
  #count = 0;
  #units = new Uint16Array(1 << 14);
  #unitsUsed = 0;
  #ids = new Uint16Array(1 << 13);
  #idsUsed = 0;

  /**
   * Appends the memoized tokens of `text[from..to)` to `out`.
   *
   * @returns False when the piece is not memoized (nothing appended).
   */
  lookup(text: string, from: number, to: number, h: number, out: TokenArray): boolean {
    const slots = this.#slots, entries = this.#entries, units = this.#units, n = to - from;
    for (let i = h & this.#mask;; i = (i + 1) & this.#mask) {
      const e = slots[2 * i + 1] - 1;
      if (e < 0) return false;
      if (slots[2 * i] !== h) continue;
      const lengths = entries[4 * e + 3];
      if (lengths >>> 16 !== n) continue;
      let k = 0;
      for (const at = entries[4 * e + 1]; k < n && units[at + k] === text.charCodeAt(from + k); k++);
      if (k < n) continue;
      const count = lengths & 0xffff, at = entries[4 * e + 2], ids = this.#ids;
      out.reserve(count);
      const data = out.data;
      let length = out.length;
      for (let j = 0; j < count; j++) data[length++] = ids[at + j];
      out.length = length;
      return true;
    }
  }

  /** Memoizes the tokens `out.data[idsFrom .. out.length)` of `text[from..to)`, whose hash is `h`. */
  insert(text: string, from: number, to: number, h: number, out: TokenArray, idsFrom: number): void {
    const n = to - from, count = out.length - idsFrom;
    if (n > MEMO_MAX_PIECE) return;
    if (this.#count >= MEMO_LIMIT) this.#clear();
    if (2 * (this.#count + 1) > this.#mask + 1) this.#grow();
    if (4 * (this.#count + 1) > this.#entries.length) this.#entries = grown(this.#entries, 4 * (this.#count + 1));
    if (this.#unitsUsed + n > this.#units.length) this.#units = grown(this.#units, this.#unitsUsed + n);
    if (this.#idsUsed + count > this.#ids.length) this.#ids = grown(this.#ids, this.#idsUsed + count);
    const e = this.#count++, entries = this.#entries;
    entries[4 * e] = h;
    entries[4 * e + 1] = this.#unitsUsed;
    entries[4 * e + 2] = this.#idsUsed;
    entries[4 * e + 3] = (n << 16) | count;
    for (let k = 0; k < n; k++) this.#units[this.#unitsUsed++] = text.charCodeAt(from + k);
    this.#ids.set(out.data.subarray(idsFrom, out.length), this.#idsUsed);
    this.#idsUsed += count;
    this.#place(h, e);
  }

  #place(h: number, e: number): void {
    const slots = this.#slots;
    let i = h & this.#mask;
    while (slots[2 * i + 1] !== 0) i = (i + 1) & this.#mask;
    slots[2 * i] = h;
    slots[2 * i + 1] = e + 1;
  }

  #grow(): void {
    const size = 2 * (this.#mask + 1);
    this.#slots = new Int32Array(2 * size);
    this.#mask = size - 1;
    for (let e = 0; e < this.#count; e++) this.#place(this.#entries[4 * e], e);
  }

  #clear(): void {
    this.#slots.fill(0);
    this.#count = this.#unitsUsed = this.#idsUsed = 0;
  }
}

function grown<T extends Int32Array | Uint16Array>(a: T, atLeast: number): T {
  const b = new (a.constructor as new (n: number) => T)(Math.max(2 * a.length, atLeast));
  b.set(a);
  return b;
}
