import assert from "node:assert/strict";
import {
  encodeShard,
  readShard,
  readShardCount,
  SHARD_HEADER_BYTES,
  SHARD_MAGIC,
  writeShard,
} from "../../prepro/shard.ts";
import { UserError } from "../../util/errors.ts";
import { withTempDir } from "../_temp.ts";

/** Asserts that `promise` rejects with a UserError whose message starts with `path` and matches `re`. */
async function rejectsNaming(promise: Promise<unknown>, path: string, re: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof UserError, `expected a UserError, got ${err}`);
    assert.ok(err.message.startsWith(path), `message should name ${path}: ${err.message}`);
    assert.match(err.message, re);
    assert.ok(!err.message.includes("\n"), "one line");
    return true;
  });
}

Deno.test("writeShard and readShard round-trip, with llm.c's header", async () => {
  await withTempDir(async (dir) => {
    const tokens = [50256, 5962, 22307, 0, 65535, 198];
    const path = `${dir}/x.bin`;
    await writeShard(path, tokens);
    const bytes = await Deno.readFile(path);
    assert.equal(bytes.length, SHARD_HEADER_BYTES + 2 * tokens.length);
    const view = new DataView(bytes.buffer);
    assert.equal(view.getInt32(0, true), SHARD_MAGIC);
    assert.equal(view.getInt32(4, true), 1);
    assert.equal(view.getInt32(8, true), tokens.length);
    for (let i = 3; i < 256; i++) assert.equal(view.getInt32(4 * i, true), 0);
    assert.equal(view.getUint16(SHARD_HEADER_BYTES, true), 50256);
    assert.deepEqual([...await readShard(path)], tokens);
    assert.equal(await readShardCount(path), tokens.length);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["x.bin"], "no temp file left behind");
  });
});

Deno.test("token ids that do not fit uint16 are refused", () => {
  assert.throws(
    () => encodeShard([1, 65536], "big.bin"),
    (e: Error) => e instanceof UserError && /big\.bin: token 1 is 65536/.test(e.message),
  );
  assert.throws(() => encodeShard([-1]), UserError);
  assert.throws(() => encodeShard([1.5]), UserError);
});

Deno.test("bad token files give one-line UserErrors naming the file", async () => {
  await withTempDir(async (dir) => {
    const good = encodeShard([1, 2, 3, 4]);
    const write = async (name: string, bytes: Uint8Array) => {
      await Deno.writeFile(`${dir}/${name}`, bytes);
      return `${dir}/${name}`;
    };
    const patched = (index: number, value: number) => {
      const b = good.slice();
      new DataView(b.buffer).setInt32(4 * index, value, true);
      return b;
    };
    const cases: [string, RegExp][] = [
      [`${dir}/missing.bin`, /cannot read token file \(no such file/],
      [await write("empty.bin", new Uint8Array(0)), /truncated token file: 0 bytes/],
      [await write("short.bin", good.subarray(0, 100)), /truncated token file: 100 bytes/],
      [await write("magic.bin", patched(0, 20240326)), /magic number 20240326, expected 20240520/],
      [await write("version.bin", patched(1, 2)), /unsupported token file version 2/],
      [await write("count.bin", patched(2, 5)), /header says 5 tokens .* file has 1032 bytes/],
      [await write("cut.bin", good.subarray(0, good.length - 1)), /header says 4 tokens .* file has 1031 bytes/],
      [await write("negative.bin", patched(2, -1)), /header says -1 tokens/],
    ];
    for (const [path, re] of cases) {
      await rejectsNaming(readShard(path), path, re);
      await rejectsNaming(readShardCount(path), path, re);
    }
    await rejectsNaming(readShard(dir), dir, /cannot read token file/);
    await rejectsNaming(readShardCount(dir), dir, /cannot read token file/);
  });
});
