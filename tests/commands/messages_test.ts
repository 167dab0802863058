/**
 * Error wording owned by the commands' helpers: token-count plurals in prepro, and the data loader naming the shard
 * and position of a token outside the model's vocabulary.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { DataLoader } from "../../prepro/dataloader.ts";
import { writeShard } from "../../prepro/shard.ts";
import { UserError } from "../../util/errors.ts";
import { assertOneLineError, gpt2 } from "./_cli.ts";
import { withTempDir } from "../_temp.ts";

Deno.test("gpt2 prepro text of an empty file: 'only 1 token', exit 1", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "empty.txt");
    await Deno.writeTextFile(path, "");
    const r = await gpt2("prepro", "text", path, "--out", join(dir, "out"));
    const line = assertOneLineError(r, 1, `${path}: only 1 token, too few to split`);
    assert.ok(!line.includes("1 tokens"), line);
  });
});

Deno.test("DataLoader with vocabSize: a token outside the vocabulary names the shard and its position", async () => {
  await withTempDir(async (dir) => {
    const tokens = Array.from({ length: 40 }, (_, i) => i % 10);
    tokens[13] = 300; // in the second window of B·T = 8
    const shard = join(dir, "x_train_001.bin");
    await writeShard(join(dir, "x_train_000.bin"), Array(20).fill(1));
    await writeShard(shard, tokens);
    using loader = await DataLoader.open(join(dir, "x_train_*.bin"), { B: 2, T: 4, vocabSize: 257 });
    loader.next();
    loader.next(); // x_train_000.bin: 2 windows
    loader.next(); // x_train_001.bin, tokens 0..8
    assert.throws(() => loader.next(), (e: Error) => {
      assert.ok(e instanceof UserError, String(e));
      assert.equal(
        e.message,
        `${shard}: token 300 at position 13 (counting from 0 after the header) is outside the model's vocabulary ` +
          "[0, 257); re-tokenize the data for this model",
      );
      return true;
    });
  });
});

Deno.test("DataLoader: a shard of 1 token is '1 token', and vocabSize must be positive", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "one.bin");
    await writeShard(path, [5]);
    await assert.rejects(DataLoader.open(path, { B: 1, T: 1 }), (e: Error) => {
      assert.match(e.message, /one\.bin: 1 token, fewer than B\*T\+1 = 2/);
      return true;
    });
    await writeShard(path, [5, 6, 7]);
    await assert.rejects(DataLoader.open(path, { B: 1, T: 1, vocabSize: 0 }), /vocabSize must be a positive integer/);
  });
});
