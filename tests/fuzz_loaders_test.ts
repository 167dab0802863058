/**
 * Fuzz-style robustness: truncated and bit-flipped copies of every file format the loaders read. Each must either
 * load or be rejected with a UserError (one clear line); any other exception, or a hang, fails the test.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { readCheckpoint } from "../model/checkpoint.ts";
import { readDebugState } from "../model/debug_state.ts";
import { loadHuggingFace } from "../model/huggingface.ts";
import { SeededRandom } from "../model/init.ts";
import { DataLoader } from "../prepro/dataloader.ts";
import { encodeShard, readShard } from "../prepro/shard.ts";
import { readStateFile, writeStateFile } from "../train/state_file.ts";
import { UserError } from "../util/errors.ts";

const testdata = new URL("./testdata/", import.meta.url).pathname;
const CASES_PER_FORMAT = 60; // 6 formats -> 360 corrupted files

/** A corrupted copy: truncated at a random length, or with 1-8 random bits flipped (half of them in the header). */
function corrupt(bytes: Uint8Array, rng: SeededRandom): Uint8Array {
  const out = bytes.slice();
  if (rng.uniform() < 0.4) return out.subarray(0, Math.floor(rng.uniform() * out.length));
  const flips = 1 + Math.floor(rng.uniform() * 8);
  for (let i = 0; i < flips; i++) {
    const span = rng.uniform() < 0.5 ? Math.min(1024, out.length) : out.length;
    const at = Math.floor(rng.uniform() * span);
    out[at] ^= 1 << Math.floor(rng.uniform() * 8);
  }
  return out;
}

async function fuzz(name: string, original: Uint8Array, fileName: string, load: (path: string) => Promise<unknown>) {
  const rng = new SeededRandom(name.length * 7919);
  const dir = await Deno.makeTempDir();
  const path = join(dir, fileName);
  let rejected = 0;
  for (let i = 0; i < CASES_PER_FORMAT; i++) {
    const bytes = corrupt(original, rng);
    await Deno.writeFile(path, bytes);
    try {
      await load(path);
    } catch (err) {
      if (!(err instanceof UserError)) {
        throw new Error(`${name} case ${i} (${bytes.length} bytes): ${(err as Error).stack}`);
      }
      assert.ok(!err.message.includes("\n"), `${name} case ${i}: message is not one line: ${err.message}`);
      rejected++;
    }
  }
  await Deno.remove(dir, { recursive: true });
  // Truncations are always detectable, so a good share must be rejected; bit flips in data may load (they are data).
  assert.ok(rejected >= CASES_PER_FORMAT * 0.3, `${name}: only ${rejected} of ${CASES_PER_FORMAT} rejected`);
}

Deno.test("fuzz: llm.c model files v3 and v5", async () => {
  await fuzz("v3", await Deno.readFile(join(testdata, "awkward/model.bin")), "model.bin", readCheckpoint);
  await fuzz("v5", await Deno.readFile(join(testdata, "awkward/model_bf16.bin")), "model.bin", readCheckpoint);
});

Deno.test("fuzz: debug state", async () => {
  const { config } = await readCheckpoint(join(testdata, "awkward/model.bin"));
  const state = await Deno.readFile(join(testdata, "awkward/state.bin"));
  await fuzz("state", state, "state.bin", (p) => readDebugState(p, config));
});

Deno.test("fuzz: token shards, through the reader and the DataLoader", async () => {
  const shard = encodeShard(Array.from({ length: 3000 }, (_, i) => (i * 7919) % 50257));
  await fuzz("shard", shard, "x_train.bin", readShard);
  await fuzz("loader", shard, "x_train.bin", async (p) => {
    using loader = await DataLoader.open(p, { B: 2, T: 8, shuffle: true });
    loader.next();
  });
});

Deno.test("fuzz: training state files", async () => {
  const dir = await Deno.makeTempDir();
  const m = Float32Array.from({ length: 500 }, (_, i) => i / 7), v = m.map((x) => x * x);
  await writeStateFile(join(dir, "s.bin"), { step: 3, loader: { epoch: 0 } }, m, v);
  await fuzz("trainstate", await Deno.readFile(join(dir, "s.bin")), "s.bin", (p) => readStateFile(p, 500));
  await Deno.remove(dir, { recursive: true });
});

Deno.test("fuzz: Hugging Face safetensors", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.copyFile(join(testdata, "hf/config.json"), join(dir, "config.json"));
  const weights = await Deno.readFile(join(testdata, "hf/model.safetensors"));
  await fuzz("safetensors", weights, "model.safetensors", async (p) => {
    await Deno.copyFile(join(testdata, "hf/config.json"), join(p, "..", "config.json"));
    await loadHuggingFace(p);
  });
  await Deno.remove(dir, { recursive: true });
});
