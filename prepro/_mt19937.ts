/**
 * The 32-bit Mersenne Twister (Matsumoto & Nishimura), seeded the way PyTorch's `torch.manual_seed` and llm.c's
 * `manual_seed` seed it, so `nextU32()` gives the same numbers as `randint32` in llm.c for the same seed.
 * Private to `prepro/` (the data loader's shuffle); the position is `{ seed, draws }`, which is JSON-friendly.
 * `MT19937.fromKey` seeds it instead with `init_by_array`, as CPython's `random` does (`_python.ts`).
 *
 * @module
 */

const N = 624;
const M = 397;
const UPPER = 0x80000000;
const LOWER = 0x7fffffff;
const MATRIX_A = 0x9908b0df;

/** MT19937 with a draw counter, so its position can be saved as `{ seed, draws }` and replayed. */
export class MT19937 {
  readonly seed: number;
  #mt = new Uint32Array(N);
  #next = 0;
  #left = 1;
  #draws = 0;

  /** @param seed A uint32 seed. */
  constructor(seed: number) {
    this.seed = seed >>> 0;
    const mt = this.#mt;
    mt[0] = this.seed;
    for (let j = 1; j < N; j++) mt[j] = Math.imul(1812433253, mt[j - 1] ^ (mt[j - 1] >>> 30)) + j;
  }

  /**
   * A generator seeded with MT19937's `init_by_array` (what CPython's `random.seed(int)` does with the 32-bit words
   * of the seed's absolute value, least significant first). Its `seed` is 19650218, the `init_genrand` seed that
   * `init_by_array` starts from, so `{ seed, draws }` does not replay it; only {@linkcode MT19937}'s own constructor does.
   *
   * @param key The key: uint32 words, at least one.
   * @returns A generator whose first `nextU32()` equals CPython's first `getrandbits(32)` for that key.
   * @example
   * ```ts
   * import { MT19937 } from "./_mt19937.ts";
   * console.log(MT19937.fromKey([1337]).nextU32()); // 2653228291, as random.Random(1337).getrandbits(32)
   * ```
   */
  static fromKey(key: ArrayLike<number>): MT19937 {
    if (key.length < 1) throw new RangeError("An init_by_array key needs at least one word");
    const rng = new MT19937(19650218);
    const mt = rng.#mt;
    let i = 1, j = 0;
    for (let k = Math.max(N, key.length); k > 0; k--) {
      const prev = mt[i - 1] ^ (mt[i - 1] >>> 30);
      mt[i] = (mt[i] ^ Math.imul(prev, 1664525)) + (key[j] >>> 0) + j;
      i++;
      j++;
      if (i >= N) {
        mt[0] = mt[N - 1];
        i = 1;
      }
      if (j >= key.length) j = 0;
    }
    for (let k = N - 1; k > 0; k--) {
      const prev = mt[i - 1] ^ (mt[i - 1] >>> 30);
      mt[i] = (mt[i] ^ Math.imul(prev, 1566083941)) - i;
      i++;
      if (i >= N) {
        mt[0] = mt[N - 1];
        i = 1;
      }
    }
    mt[0] = 0x80000000;
    return rng;
  }

  /** Numbers drawn since seeding. */
  get draws(): number {
    return this.#draws;
  }

  /** The next uint32. */
  nextU32(): number {
    if (--this.#left <= 0) this.#twist();
    this.#draws++;
    let y = this.#mt[this.#next++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** Draws and discards `count` numbers. */
  skip(count: number): void {
    for (let i = 0; i < count; i++) this.nextU32();
  }

  #twist(): void {
    const mt = this.#mt;
    for (let j = 0; j < N; j++) {
      const y = (mt[j] & UPPER) | (mt[(j + 1) % N] & LOWER);
      mt[j] = mt[(j + M) % N] ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0);
    }
    this.#left = N;
    this.#next = 0;
  }
}

/**
 * Shuffles `data` in place with llm.c's Fisher-Yates: for i from n-1 down to 1, swap i with `nextU32() % (i+1)`.
 * Draws n-1 numbers.
 */
export function randomPermutation(data: Int32Array | number[], rng: MT19937): void {
  for (let i = data.length - 1; i > 0; i--) {
    const j = rng.nextU32() % (i + 1);
    const tmp = data[i];
    data[i] = data[j];
    data[j] = tmp;
  }
}
