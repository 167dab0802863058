/**
 * The two pieces of CPython 3.11 behaviour that llm.c's `dev/data/tinystories.py` depends on, reproduced bit for
 * bit: `str.strip()` (whose whitespace is `str.isspace()`, not JavaScript's `trim()` set) and `random.Random(seed)`
 * with its `shuffle`. Private to `prepro/`.
 *
 * @module
 */
import { MT19937 } from "./_mt19937.ts";

/**
 * The code points for which Python 3.11's `str.isspace()` is true: bidirectional class WS, B or S, or category
 * Zs. Unlike JavaScript's `trim()` this includes U+001C..U+001F and U+0085 and excludes U+FEFF.
 */
const PYTHON_SPACE = new Set([
  0x09,
  0x0a,
  0x0b,
  0x0c,
  0x0d,
  0x1c,
  0x1d,
  0x1e,
  0x1f,
  0x20,
  0x85,
  0xa0,
  0x1680,
  0x2000,
  0x2001,
  0x2002,
  0x2003,
  0x2004,
  0x2005,
  0x2006,
  0x2007,
  0x2008,
  0x2009,
  0x200a,
  0x2028,
  0x2029,
  0x202f,
  0x205f,
  0x3000,
]);

/**
 * Whether Python 3.11's `str.isspace()` holds for one code point.
 *
 * @param codePoint A Unicode code point.
 * @returns True for the 29 whitespace code points.
 * @example
 * ```ts
 * import { isPythonSpace } from "./_python.ts";
 * console.log(isPythonSpace(0x85), isPythonSpace(0xfeff)); // true false
 * ```
 */
export function isPythonSpace(codePoint: number): boolean {
  return PYTHON_SPACE.has(codePoint);
}

/**
 * Python's `s.strip()` with no argument. All whitespace code points are in the BMP, so UTF-16 units suffice.
 *
 * @param s Any string.
 * @returns `s` without leading and trailing Python whitespace.
 * @example
 * ```ts
 * import { pythonStrip } from "./_python.ts";
 * console.log(JSON.stringify(pythonStrip("\u001f Once upon a time.\u0085\ufeff"))); // "Once upon a time.\u0085\ufeff"
 * ```
 */
export function pythonStrip(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && PYTHON_SPACE.has(s.charCodeAt(start))) start++;
  while (end > start && PYTHON_SPACE.has(s.charCodeAt(end - 1))) end--;
  return start === 0 && end === s.length ? s : s.slice(start, end);
}

/** CPython's `random.Random` for integer seeds: MT19937 seeded by `init_by_array`, and the methods shuffle needs. */
export class PythonRandom {
  #mt: MT19937;

  /**
   * `random.Random(seed)`: the key is the 32-bit words of |seed|, least significant first (one zero word for 0).
   *
   * @param seed A safe integer.
   */
  constructor(seed: number) {
    if (!Number.isSafeInteger(seed)) throw new RangeError(`Seed must be a safe integer, got ${seed}`);
    const magnitude = Math.abs(seed);
    const key = [magnitude % 0x100000000];
    const high = Math.floor(magnitude / 0x100000000);
    if (high > 0) key.push(high);
    this.#mt = MT19937.fromKey(key);
  }

  /**
   * `getrandbits(k)` for 1 <= k <= 32: the top k bits of one 32-bit draw.
   *
   * @param k Bits wanted.
   * @returns An integer in [0, 2^k).
   */
  getrandbits(k: number): number {
    if (!(Number.isInteger(k) && k >= 1 && k <= 32)) throw new RangeError(`getrandbits takes 1..32 bits, got ${k}`);
    return this.#mt.nextU32() >>> (32 - k);
  }

  /**
   * `_randbelow(n)` by rejection: draw `n.bit_length()` bits until the value is below n.
   *
   * @param n An integer in [1, 2^32) (a JavaScript array is shorter than 2^32).
   * @returns An integer in [0, n).
   */
  randbelow(n: number): number {
    if (!(Number.isInteger(n) && n >= 1 && n <= 0xffffffff)) {
      throw new RangeError(`randbelow takes 1..2^32-1, got ${n}`);
    }
    const k = 32 - Math.clz32(n); // n.bit_length()
    let r = this.getrandbits(k);
    while (r >= n) r = this.getrandbits(k);
    return r;
  }

  /**
   * `shuffle(x)` in place, as Python 3.11 does it: for i from len-1 down to 1, swap x[i] with x[randbelow(i+1)].
   *
   * @param x The list.
   * @example
   * ```ts
   * import { PythonRandom } from "./_python.ts";
   * const x = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
   * new PythonRandom(1338).shuffle(x);
   * console.log(x); // [1, 0, 6, 2, 9, 8, 3, 7, 4, 5], as random.Random(1338).shuffle
   * ```
   */
  shuffle<T>(x: T[]): void {
    for (let i = x.length - 1; i > 0; i--) {
      const j = this.randbelow(i + 1);
      const tmp = x[i];
      x[i] = x[j];
      x[j] = tmp;
    }
  }
}
