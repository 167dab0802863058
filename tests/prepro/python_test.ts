/**
 * CPython 3.11's `random.Random(seed)` (MT19937 `init_by_array`, `getrandbits`, `_randbelow`, `shuffle`) and
 * `str.strip()`, against numbers and strings printed by python3 3.11.7.
 */
import assert from "node:assert/strict";
import { MT19937 } from "../../prepro/_mt19937.ts";
import { isPythonSpace, PythonRandom, pythonStrip } from "../../prepro/_python.ts";

Deno.test("PythonRandom(seed).getrandbits(32) matches CPython for one- and two-word seeds, and for negative ones", () => {
  // python3 -c "import random; r = random.Random(s); print([r.getrandbits(32) for _ in range(4)])"
  const cases: [number, number[], number][] = [
    [1337, [2653228291, 3975144315, 2290358181, 3048911309], 79],
    [0, [3626764237, 1654615998, 3255389356, 3823568514], 108],
    [2 ** 40 + 5, [2166296868, 2220160828, 1153647273, 2850991874], 64],
    [-1337, [2653228291, 3975144315, 2290358181, 3048911309], 79],
    [4294967295, [2728839433, 2661025012, 872737089, 924893097], 81],
  ];
  for (const [seed, words, bits7] of cases) {
    const r = new PythonRandom(seed);
    assert.deepEqual(Array.from({ length: 4 }, () => r.getrandbits(32)), words, `seed ${seed}`);
    assert.equal(new PythonRandom(seed).getrandbits(7), bits7, `seed ${seed}: getrandbits(7)`);
  }
  assert.equal(MT19937.fromKey([1337]).nextU32(), 2653228291);
  assert.equal(MT19937.fromKey([1337]).seed, 19650218);
  // The torch-style seeding is unchanged: init_genrand(42) starts 1608637542 (the reference MT19937's output).
  assert.equal(new MT19937(42).nextU32(), 1608637542);
});

Deno.test("PythonRandom.shuffle and randbelow match CPython 3.11", () => {
  // python3 -c "import random; x = list(range(n)); random.Random(s).shuffle(x); print(x)"
  const cases: [number, number, number[]][] = [
    [1337, 1, [0]],
    [1337, 2, [0, 1]],
    [1338, 10, [1, 0, 6, 2, 9, 8, 3, 7, 4, 5]],
    [7, 25, [13, 19, 5, 22, 23, 16, 7, 24, 9, 6, 15, 0, 18, 8, 14, 21, 11, 3, 17, 2, 1, 20, 12, 4, 10]],
  ];
  for (const [seed, n, want] of cases) {
    const x = Array.from({ length: n }, (_, i) => i);
    new PythonRandom(seed).shuffle(x);
    assert.deepEqual(x, want, `Random(${seed}).shuffle(range(${n}))`);
  }
  // A shard-sized list: sum(i * x[i]) % 1000000007, and its ends.
  const x = Array.from({ length: 100_000 }, (_, i) => i);
  new PythonRandom(1339).shuffle(x);
  assert.equal(x.reduce((s, v, i) => s + i * v, 0) % 1_000_000_007, 82169393);
  assert.deepEqual([...x.slice(0, 5), ...x.slice(-3)], [81565, 80593, 20050, 80514, 22557, 36088, 27059, 82275]);
  // randrange(6) is _randbelow(6): 3 bits with rejection of 6 and 7.
  const r = new PythonRandom(5);
  assert.deepEqual(Array.from({ length: 10 }, () => r.randbelow(6)), [4, 2, 5, 2, 5, 5, 5, 4, 0, 3]);
});

Deno.test("pythonStrip uses str.isspace(): U+001C..U+001F and U+0085 are stripped, U+FEFF, U+180E, U+200B are not", () => {
  // python3 -c "import sys; print([hex(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()])"
  const python = [
    0x9,
    0xa,
    0xb,
    0xc,
    0xd,
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
  ];
  const ours: number[] = [];
  for (let c = 0; c <= 0x10ffff; c++) if (isPythonSpace(c)) ours.push(c);
  assert.deepEqual(ours, python);
  // python3 -c "print(repr(s.strip()))"
  assert.equal(pythonStrip("\x1f a \x85"), "a");
  assert.equal(pythonStrip("\ufeff x \ufeff"), "\ufeff x \ufeff");
  assert.equal(pythonStrip("\u180e y \u200b"), "\u180e y \u200b");
  assert.equal(
    pythonStrip(" \t\n\x0b\x0c\r\x1c\x1d\x1e\x1f\xa0\u1680\u2000\u2001\u200a\u2028\u2029\u202f\u205f\u3000z\u3000"),
    "z",
  );
  assert.equal(pythonStrip(""), "");
  assert.equal(pythonStrip("\x85"), "");
  assert.notEqual(pythonStrip("\x1fa"), "\x1fa".trim(), "JavaScript's trim() keeps U+001F");
});
