import assert from "node:assert/strict";
import { DataLoader, type DataLoaderState, expandShardPattern } from "../../prepro/dataloader.ts";
import { MT19937, randomPermutation } from "../../prepro/_mt19937.ts";
import { writeShard } from "../../prepro/shard.ts";
import { UserError } from "../../util/errors.ts";
import { withTempDir } from "../_temp.ts";

/** Shard k holds tokens k*1000, k*1000+1, ...: a window's first token tells its shard and offset. */
async function makeShards(dir: string, sizes: number[], stem = "x_train"): Promise<string> {
  for (let k = 0; k < sizes.length; k++) {
    const name = `${dir}/${stem}_${String(k).padStart(3, "0")}.bin`;
    await writeShard(name, Array.from({ length: sizes[k] }, (_, i) => k * 1000 + i));
  }
  return `${dir}/${stem}_*.bin`;
}

/** The first input token of each of the next `n` batches. */
function starts(loader: DataLoader, n: number): number[] {
  return Array.from({ length: n }, () => loader.next().inputs[0]);
}

Deno.test("MT19937 matches PyTorch / llm.c and the C++ standard", () => {
  // torch.manual_seed(137); torch.randint(0, 0xFFFFFFFF, [1]) five times (values quoted in llm.c's rand.h).
  const rng = new MT19937(137);
  assert.deepEqual(Array.from({ length: 5 }, () => rng.nextU32()), [
    4053805790,
    2173880614,
    380293709,
    1237255315,
    2986595568,
  ]);
  // C++ [rand.predef]: the 10000th output of a default-constructed std::mt19937 (seed 5489) is 4123659995.
  const std = new MT19937(5489);
  std.skip(9999);
  assert.equal(std.nextU32(), 4123659995);
  assert.equal(std.draws, 10000);
  const perm = [0, 1, 2, 3, 4, 5, 6, 7];
  randomPermutation(perm, new MT19937(42));
  assert.deepEqual([...perm].sort(), [0, 1, 2, 3, 4, 5, 6, 7]);
});

Deno.test("eval mode: windows of B*T+1 tokens in order, targets shifted by one, then starts over", async () => {
  await withTempDir(async (dir) => {
    const pattern = await makeShards(dir, [30, 21]); // B*T = 8: 3 windows in shard 0, 2 in shard 1
    using loader = await DataLoader.open(pattern, { B: 2, T: 4 });
    assert.deepEqual(loader.files, [`${dir}/x_train_000.bin`, `${dir}/x_train_001.bin`]);
    assert.equal(loader.windowsPerEpoch, 5);
    assert.equal(loader.numTokens, 51);
    const first = loader.next();
    assert.deepEqual([...first.inputs], [0, 1, 2, 3, 4, 5, 6, 7]);
    assert.deepEqual([...first.targets], [1, 2, 3, 4, 5, 6, 7, 8]);
    const second = loader.next();
    assert.deepEqual([...second.inputs], [8, 9, 10, 11, 12, 13, 14, 15]);
    assert.deepEqual([...second.targets], [9, 10, 11, 12, 13, 14, 15, 16]);
    assert.deepEqual(starts(loader, 4), [16, 1000, 1008, 0]);
    assert.equal(loader.epoch, 1);
    loader.reset();
    assert.equal(loader.epoch, 0);
    assert.deepEqual(starts(loader, 2), [0, 8]);
  });
});

Deno.test("train mode: every window once per epoch, seeded order, new order each epoch", async () => {
  await withTempDir(async (dir) => {
    const pattern = await makeShards(dir, [81, 41, 65]); // 10 + 5 + 8 windows of 8 tokens
    const epochOf = async (seed: number, epochs: number) => {
      using loader = await DataLoader.open(pattern, { B: 2, T: 4, shuffle: true, seed });
      const all = starts(loader, epochs * loader.windowsPerEpoch);
      return Array.from({ length: epochs }, (_, e) => all.slice(e * 23, (e + 1) * 23));
    };
    const [e0, e1] = await epochOf(42, 2);
    const inOrder = [0, 1, 2].flatMap((k) => Array.from({ length: [10, 5, 8][k] }, (_, w) => k * 1000 + 8 * w));
    assert.deepEqual([...e0].sort((a, b) => a - b), inOrder, "epoch 0 visits every window once");
    assert.deepEqual([...e1].sort((a, b) => a - b), inOrder, "epoch 1 visits every window once");
    assert.notDeepEqual(e0, inOrder, "shuffled");
    assert.notDeepEqual(e0, e1, "a new order each epoch");
    // Windows of one shard stay together (llm.c shuffles shards, then windows within the shard).
    const shardsVisited = e0.map((x) => Math.floor(x / 1000)).filter((s, i, a) => i === 0 || a[i - 1] !== s);
    assert.equal(shardsVisited.length, 3);
    assert.deepEqual(await epochOf(42, 2), [e0, e1], "same seed, same order");
    assert.notDeepEqual((await epochOf(7, 1))[0], e0, "different seed, different order");
  });
});

Deno.test("train mode gives llm.c's batch order for the same shards, B, T and seed", async () => {
  await withTempDir(async (dir) => {
    const pattern = await makeShards(dir, [81, 41, 65, 17]);
    using loader = await DataLoader.open(pattern, { B: 2, T: 4, shuffle: true });
    // First input token of 60 batches (2.6 epochs) from llm.c's llmc/dataloader.h (dataloader_init with
    // should_shuffle=1, B=2, T=4, one process) on these four shards, compiled and run once to record them.
    const llmc = [
      1008,
      1000,
      1024,
      1016,
      1032,
      56,
      24,
      40,
      16,
      48,
      64,
      0,
      8,
      72,
      32,
      3000,
      3008,
      2024,
      2048,
      2008,
      2000,
      2040,
      2032,
      2016,
      2056,
      1016,
      1000,
      1008,
      1024,
      1032,
      3008,
      3000,
      32,
      16,
      24,
      48,
      8,
      64,
      0,
      72,
      56,
      40,
      2008,
      2000,
      2032,
      2056,
      2016,
      2024,
      2040,
      2048,
      2016,
      2000,
      2032,
      2048,
      2008,
      2024,
      2056,
      2040,
      1008,
      1032,
    ];
    assert.deepEqual(starts(loader, 60), llmc);
  });
});

Deno.test("state() / restore() continue identically, across shard and epoch boundaries", async () => {
  await withTempDir(async (dir) => {
    const pattern = await makeShards(dir, [81, 41, 65]);
    for (const shuffle of [true, false]) {
      for (const at of [0, 3, 12, 22, 23, 30]) {
        using a = await DataLoader.open(pattern, { B: 2, T: 4, shuffle });
        starts(a, at);
        const state: DataLoaderState = JSON.parse(JSON.stringify(a.state()));
        const expected = starts(a, 40);
        using b = await DataLoader.open(pattern, { B: 2, T: 4, shuffle });
        starts(b, 5); // somewhere else first
        b.restore(state);
        assert.equal(b.epoch, state.epoch);
        assert.deepEqual(starts(b, 40), expected, `shuffle=${shuffle}, restored after ${at} batches`);
        assert.deepEqual(b.state(), a.state());
      }
    }
    using c = await DataLoader.open(pattern, { B: 2, T: 4, shuffle: true });
    assert.throws(() => c.restore({ ...c.state(), shardOrder: [0, 1] }), /state does not fit these 3 shard/);
    assert.throws(() => c.restore({ ...c.state(), rng: { seed: 7, draws: 0 } }), UserError);
  });
});

Deno.test("fromShards (shards in memory, as a web page has them) gives open()'s batches, state and errors", async () => {
  await withTempDir(async (dir) => {
    const pattern = await makeShards(dir, [81, 41, 65]);
    const files = await expandShardPattern(pattern);
    const shards = await Promise.all(files.map(async (name) => ({ name, bytes: await Deno.readFile(name) })));
    for (const shuffle of [true, false]) {
      using a = await DataLoader.open(pattern, { B: 2, T: 4, shuffle, seed: 5 });
      const b = DataLoader.fromShards(shards, { B: 2, T: 4, shuffle, seed: 5 });
      // Three epochs of batches, inputs and targets both.
      for (let i = 0; i < 60; i++) {
        const [x, y] = [a.next(), b.next()];
        assert.deepEqual([[...x.inputs], [...x.targets]], [[...y.inputs], [...y.targets]], `batch ${i}`);
      }
      assert.deepEqual(b.state(), a.state());
    }
    assert.throws(
      () => DataLoader.fromShards([{ name: "tiny.bin", bytes: shards[1].bytes }], { B: 8, T: 8 }),
      /tiny\.bin: 41 tokens, fewer than B\*T\+1 = 65/,
    );
    assert.throws(
      () => DataLoader.fromShards([{ name: "cut.bin", bytes: shards[0].bytes.subarray(0, 1100) }], { B: 2, T: 4 }),
      /cut\.bin: header says 81 tokens/,
    );
    const vocab = DataLoader.fromShards(shards, { B: 2, T: 4, vocabSize: 50 });
    // Shard 0 holds tokens 0, 1, 2, …: its 7th window (tokens 48 … 56) is the first to hold 50.
    for (let i = 0; i < 6; i++) vocab.next();
    assert.throws(() => vocab.next(), /x_train_000\.bin: token 50 at position 50 .*vocabulary \[0, 50\)/);
  });
});

Deno.test("processes share a window: rank r reads tokens r*B*T onward", async () => {
  await withTempDir(async (dir) => {
    const pattern = await makeShards(dir, [50]);
    using r0 = await DataLoader.open(pattern, { B: 1, T: 4, numProcesses: 2, processRank: 0 });
    using r1 = await DataLoader.open(pattern, { B: 1, T: 4, numProcesses: 2, processRank: 1 });
    assert.deepEqual(starts(r0, 3), [0, 8, 16]);
    assert.deepEqual(starts(r1, 3), [4, 12, 20]);
  });
});

Deno.test("DataLoader errors name the file or pattern", async () => {
  await withTempDir(async (dir) => {
    const pattern = await makeShards(dir, [40, 9]);
    {
      using exact = await DataLoader.open(pattern, { B: 2, T: 4 }); // 9 tokens = B*T+1: exactly one window
      assert.equal(exact.windowsPerEpoch, 4 + 1);
    }
    await writeShard(`${dir}/y_train_000.bin`, [1, 2, 3, 4, 5, 6, 7, 8]);
    await assert.rejects(DataLoader.open(`${dir}/y_train_*.bin`, { B: 2, T: 4 }), (e: Error) => {
      assert.ok(e instanceof UserError);
      assert.equal(
        e.message,
        `${dir}/y_train_000.bin: 8 tokens, fewer than B*T+1 = 9 (B=2, T=4); use a smaller batch or sequence length`,
      );
      return true;
    });
    await assert.rejects(DataLoader.open(`${dir}/z_*.bin`, { B: 1, T: 1 }), (e: Error) => {
      assert.ok(e instanceof UserError);
      assert.equal(e.message, `${dir}/z_*.bin: no files match this pattern`);
      return true;
    });
    await assert.rejects(DataLoader.open(`${dir}/missing.bin`, { B: 1, T: 1 }), /missing\.bin: cannot read token file/);
    await Deno.writeFile(`${dir}/w_bad.bin`, new Uint8Array(2000));
    await assert.rejects(
      DataLoader.open(`${dir}/w_*.bin`, { B: 1, T: 1 }),
      /w_bad\.bin: not an llm\.c token file: magic number 0/,
    );
    await assert.rejects(DataLoader.open(pattern, { B: 0, T: 4 }), /B must be a positive integer/);
  });
});

Deno.test("expandShardPattern: sorted matches of *, ? and [...] in the file name", async () => {
  await withTempDir(async (dir) => {
    for (const name of ["a_2.bin", "a_10.bin", "a_1.bin", "b_1.bin", "a_1.txt"]) {
      await Deno.writeFile(`${dir}/${name}`, new Uint8Array());
    }
    assert.deepEqual(await expandShardPattern(`${dir}/a_*.bin`), [
      `${dir}/a_1.bin`,
      `${dir}/a_10.bin`,
      `${dir}/a_2.bin`,
    ]);
    assert.deepEqual(await expandShardPattern(`${dir}/?_1.bin`), [`${dir}/a_1.bin`, `${dir}/b_1.bin`]);
    assert.deepEqual(await expandShardPattern(`${dir}/a_[12].*`), [
      `${dir}/a_1.bin`,
      `${dir}/a_1.txt`,
      `${dir}/a_2.bin`,
    ]);
    assert.deepEqual(await expandShardPattern(`${dir}/a_[!1].bin`), [`${dir}/a_2.bin`]);
    await assert.rejects(expandShardPattern(`${dir}/*/a.bin`), /only supported in the file name/);
  });
});
