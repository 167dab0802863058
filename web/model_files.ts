/// <reference lib="dom" />
/**
 * The training page's model files: an llm.c checkpoint (`.bin`, version 3 fp32 or 5 bf16) or a Hugging Face
 * GPT-2 (`model.safetensors`, or its shards, with `config.json`, picked together), decoded in the page by the
 * library's own loaders (`decodeCheckpoint`, `decodeHuggingFace`) into llm.c's parameter layout.
 *
 * @module
 */
import { decodeCheckpoint, type ParameterTensors } from "../model/checkpoint.ts";
import type { GPT2Config } from "../model/config.ts";
import { decodeHuggingFace } from "../model/huggingface.ts";
import { parameterSpecs } from "../model/tensors.ts";

/** A model the user gave the page: its shape, its 16 parameters, and what to call it. */
export interface PickedModel {
  /** The file name(s), as shown. */
  name: string;
  config: GPT2Config;
  params: ParameterTensors;
  /** "llm.c v3 (fp32)", "llm.c v5 (bf16)" or "Hugging Face safetensors". */
  format: string;
}

/**
 * Decodes the files picked together: one `.bin`, or `config.json` with one or more `.safetensors`.
 *
 * @param files The picked files.
 * @returns The model.
 * @throws Error with one sentence naming the file and the problem (a bad header, a missing config.json, …).
 */
export async function readPickedModel(files: File[]): Promise<PickedModel> {
  const bins = files.filter((f) => f.name.endsWith(".bin"));
  const weights = files.filter((f) => f.name.endsWith(".safetensors"));
  const configs = files.filter((f) => f.name.endsWith(".json"));
  const names = files.map((f) => f.name).join(" + ");
  if (bins.length === 1 && files.length === 1) {
    const bytes = new Uint8Array(await bins[0].arrayBuffer());
    const { config, params, version } = decodeCheckpoint(bins[0].name, bytes);
    return { name: names, config, params, format: version === 3 ? "llm.c v3 (fp32)" : "llm.c v5 (bf16)" };
  }
  if (weights.length >= 1 && configs.length === 1 && weights.length + 1 === files.length) {
    const config = { name: configs[0].name, text: await configs[0].text() };
    const shards = await Promise.all(
      weights.map(async (f) => ({ name: f.name, bytes: new Uint8Array(await f.arrayBuffer()) })),
    );
    const model = await decodeHuggingFace(config, shards);
    return { name: names, ...model, format: "Hugging Face safetensors" };
  }
  if (weights.length >= 1 && configs.length === 0) {
    throw new Error(`${names}: pick config.json together with the .safetensors file (both at once)`);
  }
  throw new Error(
    `${names || "no file"}: pick one llm.c .bin checkpoint, or a Hugging Face model.safetensors with its config.json`,
  );
}

/**
 * The parameters of a model of this shape (wte's padded rows included, as llm.c counts them).
 *
 * @param config Model shape.
 * @returns The number of parameters.
 */
export function parameterCount(config: GPT2Config): number {
  return parameterSpecs(config).reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
}

/**
 * One line saying what was loaded, e.g. "model.bin (llm.c v3 (fp32)): 12 layers, 12 heads, 768 channels,
 * vocabulary 50257, max sequence 1024, 124.48M parameters".
 *
 * @param m The model.
 * @returns The line.
 */
export function describePickedModel(m: PickedModel): string {
  const c = m.config;
  const n = parameterCount(c);
  const count = n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n.toLocaleString("en");
  return `${m.name} (${m.format}): ${c.numLayers} layers, ${c.numHeads} heads, ${c.channels} channels, ` +
    `vocabulary ${c.vocabSize}, max sequence ${c.maxSeqLen}, ${count} parameters`;
}
