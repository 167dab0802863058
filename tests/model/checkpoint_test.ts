/**
 * llm.c checkpoint and debug-state files: bf16 widening, byte-identical v3 round trips, and one clear UserError
 * naming the file for every kind of bad input, raised before any parameter is read.
 */
import { readCheckpoint, readCheckpointHeader, writeCheckpoint } from "../../model/checkpoint.ts";
import { readDebugState, writeDebugState } from "../../model/debug_state.ts";
import { createCpuModel } from "../../model/cpu_model.ts";
import { parseModelDescriptor } from "../../model/config.ts";
import { PARAMETER_NAMES } from "../../model/tensors.ts";
import { UserError } from "../../util/errors.ts";
import { fixturePath, FIXTURES } from "./_fixtures.ts";

/** fp32 bit pattern → bf16 bits, round to nearest, ties to even (finite inputs). */
function bf16RoundNearestEven(u: number): number {
  return Math.floor((u + 0x7fff + ((u >>> 16) & 1)) / 65536) & 0xffff;
}

async function expectUserError(promise: Promise<unknown>, path: string, pattern: RegExp): Promise<void> {
  try {
    await promise;
  } catch (err) {
    if (!(err instanceof UserError)) throw new Error(`expected a UserError, got ${err}`);
    if (err.exitCode !== 1) throw new Error(`bad input files exit 1, got ${err.exitCode}`);
    if (!err.message.startsWith(`${path}: `)) throw new Error(`message does not start with the file: ${err.message}`);
    if (!pattern.test(err.message)) throw new Error(`message ${JSON.stringify(err.message)} does not match ${pattern}`);
    return;
  }
  throw new Error(`expected an error matching ${pattern}`);
}

/** Copies `source` to a temp file after `edit` changes its bytes; returns the temp path. */
async function editedCopy(source: string, edit: (bytes: Uint8Array) => Uint8Array): Promise<string> {
  const path = await Deno.makeTempFile({ suffix: ".bin" });
  await Deno.writeFile(path, edit(await Deno.readFile(source)));
  return path;
}

const setInt = (index: number, value: number) => (bytes: Uint8Array) => {
  new DataView(bytes.buffer, bytes.byteOffset).setInt32(4 * index, value, true);
  return bytes;
};

for (const name of FIXTURES) {
  Deno.test(`checkpoint ${name}: v5 bf16 loads as the round-to-nearest-even of the v3 params`, async () => {
    const fp32 = await readCheckpoint(fixturePath(name, "model.bin"));
    const bf16 = await readCheckpoint(fixturePath(name, "model_bf16.bin"));
    if (fp32.version !== 3 || bf16.version !== 5) throw new Error("versions");
    if (JSON.stringify(fp32.config) !== JSON.stringify(bf16.config)) throw new Error("configs differ");
    for (const p of PARAMETER_NAMES) {
      const a = fp32.params[p], b = bf16.params[p];
      const aBits = new Uint32Array(a.buffer, a.byteOffset, a.length);
      const bBits = new Uint32Array(b.buffer, b.byteOffset, b.length);
      for (let i = 0; i < a.length; i++) {
        if (bBits[i] !== (bf16RoundNearestEven(aBits[i]) << 16) >>> 0) {
          throw new Error(`${p}[${i}]: ${b[i]} is not the bf16 rounding of ${a[i]}`);
        }
      }
    }
  });

  Deno.test(`checkpoint ${name}: v3 written from a model reads back byte-identical`, async () => {
    const original = fixturePath(name, "model.bin");
    const { config, params } = await readCheckpoint(original);
    const model = await createCpuModel(config, 1, 1);
    for (const p of PARAMETER_NAMES) model.writeParameter(p, params[p]);
    const path = await Deno.makeTempFile({ suffix: ".bin" });
    await writeCheckpoint(path, config, await model.readParameters());
    const [a, b] = [await Deno.readFile(original), await Deno.readFile(path)];
    if (a.length !== b.length || a.some((x, i) => x !== b[i])) throw new Error("written checkpoint differs");
    await Deno.remove(path);
  });
}

Deno.test("debug state: written and read back byte-identical", async () => {
  const cfg = (await readCheckpointHeader(fixturePath("awkward", "model.bin"))).config;
  const original = fixturePath("awkward", "state.bin");
  const state = await readDebugState(original, cfg);
  const path = await Deno.makeTempFile({ suffix: ".bin" });
  await writeDebugState(path, cfg, state);
  const [a, b] = [await Deno.readFile(original), await Deno.readFile(path)];
  if (a.length !== b.length || a.some((x, i) => x !== b[i])) throw new Error("written debug state differs");
  await Deno.remove(path);
});

Deno.test("bf16 rounding helper: ties go to even", () => {
  // 1 + 2^-8 is halfway between bf16 1 and 1 + 2^-7: to even (1); 1 + 3·2^-8: to even (1 + 2^-6).
  const bits = (x: number) => new Uint32Array(new Float32Array([x]).buffer)[0];
  const got = [1 + 2 ** -8, 1 + 3 * 2 ** -8, -(1 + 2 ** -8)].map((x) => bf16RoundNearestEven(bits(x)));
  if (got.join() !== [0x3f80, 0x3f82, 0xbf80].join()) throw new Error(`got ${got.map((x) => x.toString(16))}`);
});

Deno.test("checkpoint: bad files give one UserError naming the file", async () => {
  const good = fixturePath("awkward", "model.bin");
  const cases: [string, (b: Uint8Array) => Uint8Array, RegExp][] = [
    ["wrong magic", setInt(0, 12345), /bad magic number 12345, expected 20240326/],
    ["wrong version", setInt(1, 4), /unsupported checkpoint version 4/],
    ["truncated", (b) => b.slice(0, b.length - 4), /file is \d+ bytes but its header .* needs \d+/],
    ["header disagrees with length", setInt(6, 33), /header \(L=2 C=33 .*\) needs \d+/], // channels 30 -> 33
    ["bad shape in header", setInt(5, 7), /divisible by heads/], // 30 channels, 7 heads
    ["shorter than a header", (b) => b.slice(0, 100), /too short/],
  ];
  for (const [what, edit, pattern] of cases) {
    const path = await editedCopy(good, edit);
    await expectUserError(readCheckpoint(path), path, pattern).catch((e) => {
      throw new Error(`${what}: ${e.message}`);
    });
    await Deno.remove(path);
  }
  await expectUserError(readCheckpoint("/no/such/model.bin"), "/no/such/model.bin", /no such file/);
});

Deno.test("debug state: bad files and mismatched models give one UserError naming the file", async () => {
  const cfg = (await readCheckpointHeader(fixturePath("awkward", "model.bin"))).config;
  const good = fixturePath("awkward", "state.bin");
  const cases: [string, (b: Uint8Array) => Uint8Array, RegExp][] = [
    ["wrong magic", setInt(0, 20240326), /bad magic number 20240326, expected 20240327/],
    ["wrong version", setInt(1, 1), /unsupported debug state version 1/],
    ["T too long", setInt(3, 25), /T=25 exceeds the model's max sequence length 24/],
    ["B·T disagrees with the length", setInt(2, 4), /bytes but \d+ expected/],
    ["truncated", (b) => b.slice(0, b.length - 8), /bytes but \d+ expected/],
    ["token out of range", setInt(256, 97), /input token 97 at position 0 is outside the model's vocabulary \[0, 97\)/],
  ];
  for (const [what, edit, pattern] of cases) {
    const path = await editedCopy(good, edit);
    await expectUserError(readDebugState(path, cfg), path, pattern).catch((e) => {
      throw new Error(`${what}: ${e.message}`);
    });
    await Deno.remove(path);
  }
  // The awkward state against a model with another vocabulary (same shapes otherwise): the logits size says so.
  const otherVocab = { ...cfg, vocabSize: 90 };
  await expectUserError(readDebugState(good, otherVocab), good, /logits are for a vocabulary of 97, the model's is 90/);
  // Against a different model altogether.
  const other = parseModelDescriptor("layers=1,heads=2,channels=8,seq=64,vocab=257")!;
  await expectUserError(readDebugState(good, other), good, /bytes but \d+ expected/);
});
