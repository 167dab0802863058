/**
 * Hugging Face GPT-2 checkpoints (`config.json` + `model.safetensors`, as `save_pretrained` writes them) to llm.c's
 * parameter layout and back.
 *
 * The mapping, per layer l (HF names may carry a `transformer.` prefix, as GPT2LMHeadModel's do, or not, as
 * GPT2Model's and the hub's openai-community files do):
 *
 * | Hugging Face                   | HF shape  | llm.c         | llm.c shape (per layer) |
 * | ------------------------------ | --------- | ------------- | ----------------------- |
 * | `wte.weight`                   | (V, C)    | `wte`         | (Vp, C), rows V… zero   |
 * | `wpe.weight`                   | (maxT, C) | `wpe`         | (maxT, C)               |
 * | `h.l.ln_1.{weight,bias}`       | (C)       | `ln1w, ln1b`  | (C)                     |
 * | `h.l.attn.c_attn.weight`       | (C, 3C)   | `qkvw`        | (3C, C) = transpose     |
 * | `h.l.attn.c_proj.weight`       | (C, C)    | `attprojw`    | (C, C) = transpose      |
 * | `h.l.ln_2.{weight,bias}`       | (C)       | `ln2w, ln2b`  | (C)                     |
 * | `h.l.mlp.c_fc.weight`          | (C, 4C)   | `fcw`         | (4C, C) = transpose     |
 * | `h.l.mlp.c_proj.weight`        | (4C, C)   | `fcprojw`     | (C, 4C) = transpose     |
 * | `ln_f.{weight,bias}`           | (C)       | `lnfw, lnfb`  | (C)                     |
 *
 * HF's `Conv1D` stores weights as (in, out) and computes x·W; llm.c stores (out, in), hence the transposes. Biases
 * map one to one. `lm_head.weight`, when stored, must equal `wte.weight` (llm.c ties them); the causal-mask buffers
 * `attn.bias` and `attn.masked_bias` are ignored; any other name is an error.
 *
 * @module
 */
import { UserError } from "../util/errors.ts";
import { errorText, readFileOrFail, writeFileAtomic } from "../util/fs.ts";
import { directoryOf as dirname, joinPath as join } from "../util/paths.ts";
import type { ParameterTensors } from "./checkpoint.ts";
import type { GPT2Config } from "./config.ts";
import { configFromHuggingFace, huggingFaceConfigJson } from "./huggingface_config.ts";
import { type SafetensorsEntry, SafetensorsReader, type SafetensorsTensor, writeSafetensors } from "./safetensors.ts";
import { type ParameterName, parameterSpecs, planTensors } from "./tensors.ts";

/** Per-layer tensors: HF name suffix after `h.{l}.`, llm.c parameter, whether HF stores it transposed (Conv1D). */
const LAYER_TENSORS: [string, ParameterName, boolean][] = [
  ["ln_1.weight", "ln1w", false],
  ["ln_1.bias", "ln1b", false],
  ["attn.c_attn.weight", "qkvw", true],
  ["attn.c_attn.bias", "qkvb", false],
  ["attn.c_proj.weight", "attprojw", true],
  ["attn.c_proj.bias", "attprojb", false],
  ["ln_2.weight", "ln2w", false],
  ["ln_2.bias", "ln2b", false],
  ["mlp.c_fc.weight", "fcw", true],
  ["mlp.c_fc.bias", "fcb", false],
  ["mlp.c_proj.weight", "fcprojw", true],
  ["mlp.c_proj.bias", "fcprojb", false],
];

/** A GPT-2 in llm.c's layout: `params` are views, in llm.c's order, into one Float32Array of all parameters. */
export interface LoadedModel {
  config: GPT2Config;
  params: ParameterTensors;
}

/**
 * Whether `-e`/`convert` should treat `path` as a Hugging Face checkpoint: a directory, a `.safetensors` file or a
 * sharded checkpoint's `model.safetensors.index.json`. (An llm.c checkpoint is always a single `.bin` file.)
 *
 * @param path A model path given on the command line.
 * @returns True for a Hugging Face path.
 * @example
 * ```ts
 * import { isHuggingFacePath } from "./huggingface.ts";
 * if (!isHuggingFacePath("gpt2/model.safetensors") || isHuggingFacePath("gpt2_124M.bin")) throw new Error("bad");
 * ```
 */
export function isHuggingFacePath(path: string): boolean {
  if (/\.safetensors$|\.safetensors\.index\.json$/.test(path)) return true;
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

/** Where a Hugging Face checkpoint's files are. */
interface HuggingFaceFiles {
  config: string;
  weights: string[];
}

async function locate(path: string): Promise<HuggingFaceFiles> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (err) {
    throw new UserError(`${path}: cannot read Hugging Face checkpoint (${errorText(err)})`);
  }
  const exists = (p: string) => Deno.stat(p).then(() => true, () => false);
  const dir = info.isDirectory ? path : dirname(path);
  let index = path.endsWith(".index.json") ? path : undefined;
  let weights = info.isDirectory ? undefined : [path];
  if (info.isDirectory) {
    if (await exists(join(dir, "model.safetensors"))) weights = [join(dir, "model.safetensors")];
    else if (await exists(join(dir, "model.safetensors.index.json"))) index = join(dir, "model.safetensors.index.json");
    else {
      const torchOnly = await exists(join(dir, "pytorch_model.bin"));
      throw new UserError(
        `${path}: no model.safetensors in this directory` +
          (torchOnly ? " (only pytorch_model.bin; re-save it with save_pretrained(dir, safe_serialization=True))" : ""),
      );
    }
  }
  if (index) {
    const text = new TextDecoder().decode(await readFileOrFail(index, "safetensors index"));
    let map: unknown;
    try {
      map = JSON.parse(text).weight_map;
    } catch (err) {
      throw new UserError(`${index}: not valid JSON (${errorText(err)})`);
    }
    if (typeof map !== "object" || map === null) throw new UserError(`${index}: no "weight_map" object`);
    weights = [...new Set(Object.values(map).map(String))].map((file) => join(dirname(index), file));
  }
  const config = join(dir, "config.json");
  if (!(await exists(config))) {
    throw new UserError(`${config}: missing; a Hugging Face checkpoint needs its config.json beside the weights`);
  }
  return { config, weights: weights! };
}

/**
 * Reads a Hugging Face GPT-2 checkpoint into llm.c's layout (vocab padded with zero rows), converting in memory:
 * what `gpt2 convert` writes out, and what `train -e`/`generate -e` load when `isHuggingFacePath(path)`.
 *
 * @param path A directory with `config.json` and `model.safetensors` (or a sharded `model.safetensors.index.json`),
 *   or a `.safetensors` file with `config.json` beside it.
 * @returns The config and the 16 parameters (fp32; F16/BF16 tensors are widened exactly).
 * @throws UserError naming the file and tensor for a missing config.json, a non-GPT-2 config, a bad safetensors
 *   file, an unknown, missing or misshapen tensor, an unsupported dtype, or an `lm_head` that is not tied to wte.
 * @example
 * ```ts ignore
 * import { loadHuggingFace } from "./huggingface.ts";
 * const { config, params } = await loadHuggingFace("openai-community/gpt2");
 * console.log(config.paddedVocabSize, params.wte.length); // 50304 38633472
 * ```
 */
export async function loadHuggingFace(path: string): Promise<LoadedModel> {
  const files = await locate(path);
  const configText = new TextDecoder().decode(await readFileOrFail(files.config, "config.json"));
  const config = parseConfigJson(files.config, configText);
  const readers: SafetensorsReader[] = [];
  try {
    for (const file of files.weights) readers.push(await SafetensorsReader.open(file));
    return { config, params: await readParameters(config, readers) };
  } finally {
    for (const r of readers) r.close();
  }
}

/**
 * `loadHuggingFace` for files already in memory (a browser page's picked `config.json` and `model.safetensors`).
 *
 * @param config The `config.json` file: its name (for messages) and text.
 * @param weights The `.safetensors` files (one, or the shards), by name and bytes.
 * @returns The config and the 16 parameters in llm.c's layout, with `loadHuggingFace`'s checks.
 * @throws UserError naming the file as `loadHuggingFace` does.
 * @example
 * ```ts
 * import { decodeHuggingFace, toHuggingFaceTensors } from "./huggingface.ts";
 * import { huggingFaceConfigJson } from "./huggingface_config.ts";
 * import { encodeSafetensors } from "./safetensors.ts";
 * import { parseModelDescriptor } from "./config.ts";
 * import { randomParameters } from "./init.ts";
 * const config = parseModelDescriptor("layers=1,heads=2,channels=8,seq=4,vocab=10")!;
 * const params = Object.fromEntries(randomParameters(config, 1));
 * const chunks = encodeSafetensors(toHuggingFaceTensors(config, params as never));
 * const bytes = new Uint8Array(await new Blob(chunks as BlobPart[]).arrayBuffer());
 * const text = JSON.stringify(huggingFaceConfigJson(config));
 * const back = await decodeHuggingFace({ name: "config.json", text }, [{ name: "model.safetensors", bytes }]);
 * if (back.params.qkvw[5] !== params.qkvw[5]) throw new Error("round trip failed");
 * ```
 */
export async function decodeHuggingFace(
  config: { name: string; text: string },
  weights: { name: string; bytes: Uint8Array }[],
): Promise<LoadedModel> {
  const parsed = parseConfigJson(config.name, config.text);
  const readers: SafetensorsReader[] = [];
  for (const file of weights) readers.push(await SafetensorsReader.fromBytes(file.name, file.bytes));
  return { config: parsed, params: await readParameters(parsed, readers) };
}

function parseConfigJson(path: string, text: string): GPT2Config {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new UserError(`${path}: not valid JSON (${errorText(err)})`);
  }
  return configFromHuggingFace(json, path);
}

/** A tensor found in one of the files, under its name without the `transformer.` prefix. */
interface Found {
  reader: SafetensorsReader;
  entry: SafetensorsEntry;
}

async function readParameters(config: GPT2Config, readers: SafetensorsReader[]): Promise<ParameterTensors> {
  const { numLayers: L, channels: C, vocabSize: V } = config;
  const found = new Map<string, Found>();
  for (const reader of readers) {
    for (const entry of reader.header.tensors.values()) {
      const name = entry.name.replace(/^transformer\./, "");
      if (found.has(name)) throw new UserError(`${reader.path}: tensor '${entry.name}' appears twice`);
      found.set(name, { reader, entry });
    }
  }
  // Every HF tensor llm.c needs, with the shape HF stores it in; `layer` is undefined for the non-block tensors.
  const wanted = new Map<string, { name: ParameterName; layer?: number; shape: number[]; transpose: boolean }>([
    ["wte.weight", { name: "wte", shape: [V, C], transpose: false }],
    ["wpe.weight", { name: "wpe", shape: [config.maxSeqLen, C], transpose: false }],
    ["ln_f.weight", { name: "lnfw", shape: [C], transpose: false }],
    ["ln_f.bias", { name: "lnfb", shape: [C], transpose: false }],
  ]);
  const specs = new Map(parameterSpecs(config).map((s) => [s.name, s.shape]));
  for (let l = 0; l < L; l++) {
    for (const [suffix, name, transpose] of LAYER_TENSORS) {
      const perLayer = specs.get(name)!.slice(1);
      wanted.set(`h.${l}.${suffix}`, { name, layer: l, shape: transpose ? perLayer.reverse() : perLayer, transpose });
    }
  }
  for (const [name, { reader, entry }] of found) {
    const ignored = /^h\.\d+\.attn\.(bias|masked_bias)$/.test(name) || name === "lm_head.weight";
    if (!wanted.has(name) && !ignored) {
      throw new UserError(`${reader.path}: unknown tensor '${entry.name}' (not part of a ${L}-layer GPT-2)`);
    }
  }
  for (const [name, want] of wanted) {
    const got = found.get(name);
    if (!got) {
      const where = readers.map((r) => r.path).join(", ");
      const prefixed = [...found.values()].some((f) => f.entry.name.startsWith("transformer."));
      throw new UserError(`${where}: missing tensor '${prefixed ? "transformer." : ""}${name}'`);
    }
    if (got.entry.shape.join() !== want.shape.join()) {
      throw new UserError(
        `${got.reader.path}: tensor '${got.entry.name}' has shape [${got.entry.shape}], expected [${want.shape}]`,
      );
    }
  }
  const plan = planTensors(parameterSpecs(config));
  const all = new Float32Array(plan.totalElements);
  const params = Object.fromEntries(
    plan.slots.map((s) => [s.name, all.subarray(s.offset, s.offset + s.length)]),
  ) as ParameterTensors;
  for (const [name, want] of wanted) {
    const { reader, entry } = found.get(name)!;
    const values = await reader.readFloat32(entry.name);
    const whole = params[want.name];
    const n = values.length;
    const dst = want.layer === undefined ? whole : whole.subarray(want.layer * n, (want.layer + 1) * n);
    if (want.transpose) transpose(values, dst, want.shape[0], want.shape[1]);
    else dst.set(values); // wte: the first V rows; rows V..Vp-1 stay zero
  }
  const head = found.get("lm_head.weight");
  if (head) await checkTied(head, params.wte.subarray(0, V * C), [V, C]);
  return params;
}

async function checkTied(head: Found, wte: Float32Array, shape: number[]): Promise<void> {
  const { reader, entry } = head;
  const tiedMessage = `${reader.path}: tensor '${entry.name}' differs from wte.weight; llm.c ties the output ` +
    `projection to the token embedding, so an untied GPT-2 cannot be converted`;
  if (entry.shape.join() !== shape.join()) throw new UserError(`${tiedMessage} (shape [${entry.shape}])`);
  const values = await reader.readFloat32(entry.name);
  for (let i = 0; i < values.length; i++) {
    if (values[i] !== wte[i] && !(Number.isNaN(values[i]) && Number.isNaN(wte[i]))) {
      throw new UserError(`${tiedMessage} (first difference at element ${i})`);
    }
  }
}

/** dst (cols, rows) = transpose of src (rows, cols), both row-major. */
function transpose(src: Float32Array, dst: Float32Array, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) {
    const row = r * cols;
    for (let c = 0; c < cols; c++) dst[c * rows + r] = src[row + c];
  }
}

/**
 * The safetensors tensors of an llm.c model under GPT2LMHeadModel's names (`transformer.…`, no `lm_head`: it is
 * tied to wte), Conv1D weights transposed to (in, out), wte cut back to V rows.
 *
 * @param config Model shape.
 * @param params The 16 llm.c parameters.
 * @returns Tensors in HF's order (untransposed ones are views, not copies).
 */
export function toHuggingFaceTensors(config: GPT2Config, params: ParameterTensors): SafetensorsTensor[] {
  const { numLayers: L, channels: C, vocabSize: V, maxSeqLen } = config;
  const specs = new Map(parameterSpecs(config).map((s) => [s.name, s.shape]));
  for (const [name, shape] of specs) {
    const n = shape.reduce((a, b) => a * b, 1);
    const t = params[name as ParameterName];
    if (!t || t.length !== n) throw new RangeError(`${name}: expected ${n} values, got ${t?.length}`);
  }
  const tensors: SafetensorsTensor[] = [
    { name: "transformer.wte.weight", shape: [V, C], data: params.wte.subarray(0, V * C) },
    { name: "transformer.wpe.weight", shape: [maxSeqLen, C], data: params.wpe },
  ];
  for (let l = 0; l < L; l++) {
    for (const [suffix, name, isConv] of LAYER_TENSORS) {
      const shape = specs.get(name)!.slice(1);
      const n = shape.reduce((a, b) => a * b, 1);
      const src = params[name].subarray(l * n, (l + 1) * n);
      let data = src;
      if (isConv) {
        data = new Float32Array(n);
        transpose(src, data, shape[0], shape[1]); // (out, in) -> (in, out)
        shape.reverse();
      }
      tensors.push({ name: `transformer.h.${l}.${suffix}`, shape, data });
    }
  }
  tensors.push({ name: "transformer.ln_f.weight", shape: [C], data: params.lnfw });
  tensors.push({ name: "transformer.ln_f.bias", shape: [C], data: params.lnfb });
  return tensors;
}

/**
 * Writes an llm.c model as a Hugging Face checkpoint directory: `model.safetensors` (fp32) and `config.json`, which
 * `transformers.GPT2LMHeadModel.from_pretrained(dir)` loads. Both files are written atomically. wte's padded rows
 * (zero in llm.c models) are dropped.
 *
 * @param dir Output directory (created if needed).
 * @param config Model shape.
 * @param params The 16 llm.c parameters.
 * @returns The two paths written.
 * @example
 * ```ts
 * import { loadHuggingFace, saveHuggingFace } from "./huggingface.ts";
 * import { parseModelDescriptor } from "./config.ts";
 * import { randomParameters } from "./init.ts";
 * const config = parseModelDescriptor("layers=1,heads=2,channels=8,seq=4,vocab=10")!;
 * const params = Object.fromEntries(randomParameters(config, 1));
 * const dir = await Deno.makeTempDir();
 * await saveHuggingFace(dir, config, params as never);
 * const back = await loadHuggingFace(dir);
 * if (back.params.qkvw[5] !== params.qkvw[5]) throw new Error("round trip failed");
 * ```
 */
export async function saveHuggingFace(
  dir: string,
  config: GPT2Config,
  params: ParameterTensors,
): Promise<{ weights: string; config: string }> {
  const weights = join(dir, "model.safetensors");
  const configPath = join(dir, "config.json");
  await writeSafetensors(weights, toHuggingFaceTensors(config, params), { format: "pt" });
  const text = JSON.stringify(huggingFaceConfigJson(config), null, 2) + "\n";
  await writeFileAtomic(configPath, new TextEncoder().encode(text));
  return { weights, config: configPath };
}
