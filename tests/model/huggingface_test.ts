/**
 * Hugging Face import/export against the transformers-made fixture in tests/testdata/hf/ (make_hf_fixture.py):
 * logits parity, F16/BF16 widening, byte-identical llm.c round trips, and the rejection of bad files.
 * With LLMTS_HF_VERIFY=dir1,dir2 (made by `make_hf_fixture.py --big`) it also checks GPT-2 124M/350M shapes.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CpuExecutor } from "../../cpu/executor.ts";
import { type ParameterTensors, readCheckpoint } from "../../model/checkpoint.ts";
import type { GPT2Config } from "../../model/config.ts";
import { GPT2 } from "../../model/gpt2.ts";
import { isHuggingFacePath, type LoadedModel, loadHuggingFace, saveHuggingFace } from "../../model/huggingface.ts";
import { configFromHuggingFace } from "../../model/huggingface_config.ts";
import {
  bf16BitsToF32,
  f16ToF32,
  f32ToBf16Bits,
  SafetensorsReader,
  type SafetensorsTensor,
  writeSafetensors,
} from "../../model/safetensors.ts";
import { bindModelTensors, planModel } from "../../model/layout.ts";
import { maxAbsDiffPadded, TENSOR_TOLERANCE } from "../../model/parity.ts";
import { PARAMETER_NAMES } from "../../model/tensors.ts";
import { UserError } from "../../util/errors.ts";
import { assertOneLineError, gpt2 } from "../commands/_cli.ts";
import { withTempDir } from "../_temp.ts";

const HF = fileURLToPath(new URL("../testdata/hf/", import.meta.url));
const SMALL_BIN = fileURLToPath(new URL("../testdata/small/model.bin", import.meta.url));
const SMALL_BF16 = fileURLToPath(new URL("../testdata/small/model_bf16.bin", import.meta.url));

interface Expected {
  B: number;
  T: number;
  tokens: number[];
  config: { vocab_size: number };
}

/** Logits (B,T,Vp) of GPT2's forward pass on the CPU backend, over plain arrays (not capped at 4 GiB like wasm32). */
async function forwardLogits(config: GPT2Config, params: ParameterTensors, tokens: number[], B: number, T: number) {
  const layout = planModel(config, B, T, 16);
  const P = layout.params.totalElements;
  const arenas = {
    params: new Float32Array(P),
    grads: new Float32Array(P),
    m: new Float32Array(P),
    v: new Float32Array(P),
    acts: new Float32Array(layout.acts.totalElements),
    gradActs: new Float32Array(layout.gradActs.totalElements),
  };
  const exec = new CpuExecutor();
  const tensors = bindModelTensors(exec, layout, arenas, {
    inputs: new Int32Array(B * T),
    targets: new Int32Array(B * T),
  });
  const model = new GPT2(exec, layout, tensors);
  for (const name of PARAMETER_NAMES) model.writeParameter(name, params[name]);
  model.forward(new Int32Array(tokens));
  return await model.readLogits();
}

/** Max |logit diff| of our forward vs the fixture's logits, loading `dir` in memory or through an llm.c file. */
async function checkLogits(dir: string, viaFile?: string): Promise<number> {
  const expected: Expected = JSON.parse(await Deno.readTextFile(join(dir, "expected.json")));
  const theirs = new Float32Array((await Deno.readFile(join(dir, "logits.bin"))).buffer);
  if (viaFile) {
    const r = await gpt2("convert", dir, viaFile);
    assert.equal(r.code, 0, r.stderr);
  }
  const { config, params } = viaFile ? await readCheckpoint(viaFile) : await loadHuggingFace(dir);
  assert.equal(theirs.length, expected.B * expected.T * config.vocabSize);
  const ours = await forwardLogits(config, params, expected.tokens, expected.B, expected.T);
  return maxAbsDiffPadded(ours, theirs, { V: config.vocabSize, Vp: config.paddedVocabSize });
}

/**
 * Asserts two typed arrays hold the same bytes, naming the first difference (node's deepEqual would spend minutes
 * diffing large arrays when they differ).
 */
function assertSameBytes(a: ArrayBufferView, b: ArrayBufferView, what: string): void {
  const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  assert.equal(x.length, y.length, `${what}: ${x.length} bytes vs ${y.length}`);
  const i = x.findIndex((v, k) => v !== y[k]);
  assert.equal(i, -1, `${what}: first difference at byte ${i}`);
}

/** Asserts two loaded models are identical: config and every parameter bit for bit. */
function assertSameModel(a: LoadedModel, b: LoadedModel, what: string): void {
  assert.deepEqual(a.config, b.config, what);
  for (const name of PARAMETER_NAMES) assertSameBytes(a.params[name], b.params[name], `${what}: ${name}`);
}

/** The fixture's safetensors file with its JSON header rewritten by `edit` (data bytes unchanged). */
async function editedFixture(edit: (header: Record<string, Record<string, unknown>>) => void): Promise<Uint8Array> {
  const bytes = await Deno.readFile(join(HF, "model.safetensors"));
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  edit(header);
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + bytes.length - 8 - n);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(bytes.subarray(8 + n), 8 + json.length);
  return out;
}

/** A copy of the fixture directory with model.safetensors replaced by `weights` and config.json by `config`. */
async function badCheckpoint(dir: string, weights?: Uint8Array, config?: Record<string, unknown>): Promise<string> {
  await Deno.writeFile(join(dir, "model.safetensors"), weights ?? await Deno.readFile(join(HF, "model.safetensors")));
  const base = JSON.parse(await Deno.readTextFile(join(HF, "config.json")));
  await Deno.writeTextFile(join(dir, "config.json"), JSON.stringify({ ...base, ...config }));
  return dir;
}

async function rejects(path: string, re: RegExp): Promise<void> {
  await assert.rejects(() => loadHuggingFace(path), (err: Error) => {
    assert.ok(err instanceof UserError, `a UserError expected, got ${err}`);
    assert.equal(err.exitCode, 1);
    assert.match(err.message, re);
    return true;
  });
}

Deno.test("HF fixture -> llm.c layout -> CPU forward matches transformers' logits", async () => {
  const diff = await checkLogits(HF);
  // The reference is float64; our forward is float32 (llm.c's test_gpt2 allows 1e-2 on logits). Measured: ~1e-6.
  assert.ok(diff < TENSOR_TOLERANCE, `max |logit diff| ${diff}`);
  console.log(`  max |logit - transformers float64| = ${diff.toExponential(2)}`);
});

Deno.test("HF loading: wte is padded with zero rows; GPT2Model names, BF16, F16 and a tied lm_head load", async () => {
  const { config, params } = await loadHuggingFace(join(HF, "model.safetensors"));
  assert.deepEqual(config, {
    maxSeqLen: 32,
    vocabSize: 97,
    paddedVocabSize: 128,
    numLayers: 2,
    numHeads: 3,
    channels: 30,
  });
  assert.ok(params.wte.subarray(97 * 30).every((x) => x === 0), "rows V..Vp-1 are zero");
  assert.ok(params.wte.subarray(96 * 30, 97 * 30).some((x) => x !== 0), "row V-1 is data");
  // bf16 file: hub names (no `transformer.`), BOOL attn.bias and F32 masked_bias buffers to ignore.
  const bf16 = await loadHuggingFace(join(HF, "model_bf16.safetensors"));
  const f16 = await loadHuggingFace(join(HF, "model_f16.safetensors"));
  for (const name of PARAMETER_NAMES) {
    const p = params[name];
    const want = new Float32Array(p.length);
    bf16BitsToF32(f32ToBf16Bits(p), want);
    assertSameBytes(bf16.params[name], want, `${name}: bf16 widened exactly`);
    // f16 keeps 11 significant bits: |error| <= 2^-11 |x| (normal) or 2^-25 (subnormal).
    const bad = f16.params[name].findIndex((x, i) => !(Math.abs(x - p[i]) <= 2 ** -11 * Math.abs(p[i]) + 2 ** -25));
    assert.equal(bad, -1, `${name}[${bad}]: f16 ${f16.params[name][bad]} vs f32 ${p[bad]}`);
  }
  using reader = await SafetensorsReader.open(join(HF, "model_bf16.safetensors"));
  assert.equal(reader.header.tensors.get("h.0.attn.bias")?.dtype, "BOOL");
  assert.equal(reader.header.tensors.has("wte.weight"), true);
});

Deno.test("F16 and BF16 widening, bf16 rounding ties to even", () => {
  const out = new Float32Array(6);
  f16ToF32(new Uint16Array([0x3c00, 0xc000, 0x0001, 0x7bff, 0x7c00, 0x8000]), out);
  assert.deepEqual([...out], [1, -2, 2 ** -24, 65504, Infinity, -0]);
  const bits = f32ToBf16Bits(new Float32Array([1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -8 + 2 ** -20, -0, NaN]));
  assert.deepEqual([...bits.subarray(0, 4)], [0x3f80, 0x3f82, 0x3f81, 0x8000]);
  assert.ok((bits[4] & 0x7f80) === 0x7f80 && (bits[4] & 0x7f) !== 0, "NaN stays NaN");
});

Deno.test("llm.c -> HF -> llm.c is byte-identical (v3, and v5 with --bf16); HF export matches transformers'", async () => {
  await withTempDir(async (dir) => {
    const hf = join(dir, "hf");
    let r = await gpt2("convert", SMALL_BIN, hf);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /L=2 NH=4 C=64 V=257 \(Vp 384\) maxT=64/);
    r = await gpt2("convert", hf, join(dir, "back.bin"));
    assert.equal(r.code, 0, r.stderr);
    assertSameBytes(await Deno.readFile(join(dir, "back.bin")), await Deno.readFile(SMALL_BIN), "v3 round trip");
    r = await gpt2("convert", join(hf, "model.safetensors"), join(dir, "back_bf16.bin"), "--bf16");
    assert.equal(r.code, 0, r.stderr);
    assertSameBytes(await Deno.readFile(join(dir, "back_bf16.bin")), await Deno.readFile(SMALL_BF16), "v5 round trip");

    // Export the transformers fixture: same names, shapes and bytes as transformers' own save_pretrained.
    const fixture = await loadHuggingFace(HF);
    await saveHuggingFace(join(dir, "ours"), fixture.config, fixture.params);
    using theirs = await SafetensorsReader.open(join(HF, "model.safetensors"));
    using ours = await SafetensorsReader.open(join(dir, "ours", "model.safetensors"));
    assert.deepEqual(ours.header.metadata, { format: "pt" });
    const names = (r: SafetensorsReader) =>
      [...r.header.tensors.keys()].filter((n) => !/attn\.(masked_)?bias$/.test(n));
    assert.deepEqual(names(ours).sort(), names(theirs).sort());
    for (const name of names(theirs)) {
      assert.deepEqual(ours.header.tensors.get(name)!.shape, theirs.header.tensors.get(name)!.shape, name);
      assertSameBytes(await ours.readFloat32(name), await theirs.readFloat32(name), name);
    }
    const config = JSON.parse(await Deno.readTextFile(join(dir, "ours", "config.json")));
    assert.deepEqual(configFromHuggingFace(config, "config.json"), fixture.config);
    assert.deepEqual(config.architectures, ["GPT2LMHeadModel"]);
    // The converted llm.c file holds the same parameters as the in-memory load.
    r = await gpt2("convert", HF, join(dir, "fixture.bin"));
    assert.equal(r.code, 0, r.stderr);
    const bin = await readCheckpoint(join(dir, "fixture.bin"));
    assertSameModel(bin, fixture, "fixture.bin");
  });
});

Deno.test("a sharded checkpoint (model.safetensors.index.json) loads like the single file", async () => {
  await withTempDir(async (dir) => {
    using reader = await SafetensorsReader.open(join(HF, "model.safetensors"));
    const shards: SafetensorsTensor[][] = [[], []];
    const weightMap: Record<string, string> = {};
    for (const [i, { name, shape }] of [...reader.header.tensors.values()].entries()) {
      shards[i % 2].push({ name, shape, data: await reader.readFloat32(name) });
      weightMap[name] = `model-0000${i % 2 + 1}-of-00002.safetensors`;
    }
    for (const [i, tensors] of shards.entries()) {
      await writeSafetensors(join(dir, `model-0000${i + 1}-of-00002.safetensors`), tensors, { format: "pt" });
    }
    await Deno.writeTextFile(join(dir, "model.safetensors.index.json"), JSON.stringify({ weight_map: weightMap }));
    await Deno.copyFile(join(HF, "config.json"), join(dir, "config.json"));
    assertSameModel(await loadHuggingFace(dir), await loadHuggingFace(HF), "shards");
    assertSameModel(
      await loadHuggingFace(join(dir, "model.safetensors.index.json")),
      await loadHuggingFace(HF),
      "index",
    );
  });
});

Deno.test("isHuggingFacePath", () => {
  assert.equal(isHuggingFacePath(HF), true);
  assert.equal(isHuggingFacePath("x/model.safetensors"), true);
  assert.equal(isHuggingFacePath("x/model.safetensors.index.json"), true);
  assert.equal(isHuggingFacePath(SMALL_BIN), false);
  assert.equal(isHuggingFacePath("d12"), false);
});

Deno.test("bad safetensors files are rejected naming the file and the tensor", async () => {
  await withTempDir(async (dir) => {
    const full = await Deno.readFile(join(HF, "model.safetensors"));
    await badCheckpoint(dir, full.subarray(0, full.length - 100));
    await rejects(dir, /model\.safetensors: truncated: tensor '[^']+' ends at byte \d+ but the file has \d+ bytes/);
    await badCheckpoint(dir, full.subarray(0, 100));
    await rejects(dir, /model\.safetensors: truncated or not a safetensors file: header length \d+ exceeds/);
    await badCheckpoint(dir, new Uint8Array(5));
    await rejects(dir, /model\.safetensors: truncated: 5 bytes is too short/);
    await badCheckpoint(
      dir,
      await editedFixture((h) => h["transformer.wpe.weight"].data_offsets = [0, 8]),
    );
    await rejects(
      dir,
      /tensor 'transformer\.wpe\.weight': data_offsets \[0, 8\] hold 8 bytes but shape \[32,30\] of F32 needs 3840/,
    );
    await badCheckpoint(
      dir,
      await editedFixture((h) => h["transformer.ln_f.bias"].data_offsets = h["transformer.ln_f.weight"].data_offsets),
    );
    await rejects(dir, /tensors 'transformer\.ln_f\.(weight|bias)' and 'transformer\.ln_f\.(weight|bias)' overlap/);
    await badCheckpoint(dir, await editedFixture((h) => h["transformer.ln_f.bias"].data_offsets = [1e9, 1e9 + 120]));
    await rejects(dir, /truncated: tensor 'transformer\.ln_f\.bias' ends at byte/);
    await badCheckpoint(dir, await editedFixture((h) => h["transformer.h.1.ln_2.bias"].dtype = "I32"));
    await rejects(dir, /tensor 'transformer\.h\.1\.ln_2\.bias' has dtype I32; supported: F32, F16, BF16/);
    await badCheckpoint(dir, await editedFixture((h) => h["transformer.h.1.ln_2.bias"].dtype = "Q4"));
    await rejects(dir, /tensor 'transformer\.h\.1\.ln_2\.bias': unknown dtype "Q4"/);
    const json = new TextEncoder().encode("{not json");
    const broken = new Uint8Array(8 + json.length);
    new DataView(broken.buffer).setBigUint64(0, BigInt(json.length), true);
    broken.set(json, 8);
    await badCheckpoint(dir, broken);
    await rejects(dir, /model\.safetensors: safetensors header is not valid JSON/);
  });
});

Deno.test("tensors that are not GPT-2's: unknown, missing, misshapen, untied lm_head", async () => {
  await withTempDir(async (dir) => {
    const rename = (from: string, to: string) => (h: Record<string, Record<string, unknown>>) => {
      h[to] = h[from];
      delete h[from];
    };
    await badCheckpoint(dir, await editedFixture(rename("transformer.h.1.mlp.c_fc.bias", "transformer.h.1.mlp.gate")));
    await rejects(dir, /model\.safetensors: unknown tensor 'transformer\.h\.1\.mlp\.gate'/);
    await badCheckpoint(dir, undefined, { n_layer: 1 });
    await rejects(dir, /unknown tensor 'transformer\.h\.1\.[a-z_.0-9]+' \(not part of a 1-layer GPT-2\)/);
    await badCheckpoint(dir, undefined, { n_layer: 3 });
    await rejects(dir, /model\.safetensors: missing tensor 'transformer\.h\.2\.ln_1\.weight'/);
    await badCheckpoint(dir, undefined, { n_positions: 64, n_ctx: 64 });
    await rejects(dir, /tensor 'transformer\.wpe\.weight' has shape \[32,30\], expected \[64,30\]/);
    await badCheckpoint(dir, await editedFixture(rename("transformer.ln_f.weight", "lm_head.weight")));
    await rejects(dir, /missing tensor 'transformer\.ln_f\.weight'/);
    const f16 = join(dir, "f16");
    await Deno.mkdir(f16);
    await Deno.copyFile(join(HF, "config.json"), join(f16, "config.json"));
    const bytes = await Deno.readFile(join(HF, "model_f16.safetensors"));
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
    const [begin] = header["lm_head.weight"].data_offsets;
    bytes[8 + n + begin + 10] ^= 1; // flip one bit of lm_head.weight
    await Deno.writeFile(join(f16, "model.safetensors"), bytes);
    await rejects(f16, /lm_head\.weight' differs from wte\.weight.*first difference at element 5/);
  });
});

Deno.test("config.json: missing, or not GPT-2", async () => {
  await withTempDir(async (dir) => {
    await Deno.copyFile(join(HF, "model.safetensors"), join(dir, "model.safetensors"));
    await rejects(dir, /config\.json: missing; a Hugging Face checkpoint needs its config\.json beside the weights/);
    await rejects(join(dir, "model.safetensors"), /config\.json: missing/);
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ model_type: "llama" }, /model_type is "llama", not "gpt2"; llm\.ts converts GPT-2 models only/],
      [{ activation_function: "relu" }, /activation_function "relu" is not GELU's tanh form/],
      [{ activation_function: "gelu" }, /activation_function "gelu" is not GELU's tanh form/],
      [{ layer_norm_epsilon: 1e-6 }, /layer_norm_epsilon 0\.000001 is not 1e-5/],
      [{ n_inner: 64 }, /n_inner 64 is not 4 \* n_embd = 120/],
      [{ scale_attn_by_inverse_layer_idx: true }, /scale_attn_by_inverse_layer_idx is true, not false/],
      [{ n_head: 4 }, /channels \(30\) must be divisible by heads \(4\)/],
      [{ n_embd: "30" }, /n_embd "30" is not a positive integer/],
    ];
    for (const [edit, re] of cases) {
      await badCheckpoint(dir, undefined, edit);
      await rejects(dir, new RegExp(`config\\.json: ${re.source}`));
    }
    await Deno.writeTextFile(join(dir, "config.json"), "{");
    await rejects(dir, /config\.json: not valid JSON/);
  });
  await rejects("/no/such/dir", /\/no\/such\/dir: cannot read Hugging Face checkpoint \(no such file or directory\)/);
});

Deno.test("gpt2 convert: bad input exits 1 with one line, bad usage exits 2", async () => {
  await withTempDir(async (dir) => {
    await badCheckpoint(dir, undefined, { model_type: "gpt_neox" });
    assertOneLineError(
      await gpt2("convert", dir, join(dir, "out.bin")),
      1,
      /^gpt2 convert: .*config\.json: model_type is "gpt_neox", not "gpt2"; llm\.ts converts GPT-2 models only$/,
    );
    const full = await Deno.readFile(join(HF, "model.safetensors"));
    await badCheckpoint(dir, full.subarray(0, 2000));
    assertOneLineError(
      await gpt2("convert", dir, join(dir, "out.bin")),
      1,
      /^gpt2 convert: .*model\.safetensors: truncated/,
    );
    await Deno.remove(join(dir, "config.json"));
    assertOneLineError(await gpt2("convert", dir, join(dir, "out.bin")), 1, /^gpt2 convert: .*config\.json: missing/);
    assertOneLineError(
      await gpt2("convert", HF, dir),
      1,
      /^gpt2 convert: .*: is a directory; give the llm\.c model file/,
    );
    assertOneLineError(
      await gpt2("convert", join(dir, "model.safetensors"), join(dir, "x.bin")),
      1,
      /^gpt2 convert: .*config\.json: missing/,
    );
    assertOneLineError(
      await gpt2("convert", join(dir, "nope.bin"), join(dir, "hf")),
      1,
      /nope\.bin: cannot read model/,
    );
    assertOneLineError(await gpt2("convert", SMALL_BIN, join(dir, "o"), "--bf16"), 2, /--bf16 applies to Hugging Face/);
    assertOneLineError(await gpt2("convert", SMALL_BIN), 2, /Expected IN and OUT, got 1 arguments/);
    assert.equal(await Deno.stat(join(dir, "out.bin")).catch(() => null), null, "nothing written on failure");
  });
  const help = await gpt2("convert", "--help");
  assert.equal(help.code, 0);
  assert.match(help.stdout, /GPT2LMHeadModel\.from_pretrained/);
});

// GPT-2 124M and 350M shapes: random models made by `make_hf_fixture.py --big DIR` on a machine with transformers.
const verify = Deno.env.get("LLMTS_HF_VERIFY")?.split(",").filter(Boolean) ?? [];
Deno.test({
  name: "real GPT-2 shapes (LLMTS_HF_VERIFY dirs): gpt2 convert to an llm.c file, CPU forward = transformers",
  ignore: verify.length === 0,
  fn: async () => {
    for (const dir of verify) {
      const t0 = performance.now();
      const bin = await Deno.makeTempFile({ suffix: ".bin" });
      const diff = await checkLogits(dir, bin);
      await Deno.remove(bin);
      console.log(
        `  ${dir}: max |logit - transformers float64| = ${diff.toExponential(2)} ` +
          `(${((performance.now() - t0) / 1000).toFixed(1)} s)`,
      );
      assert.ok(diff < TENSOR_TOLERANCE, `${dir}: max |logit diff| ${diff}`);
    }
  },
});
