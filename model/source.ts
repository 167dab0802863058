/**
 * Model sources for `-e`: an llm.c checkpoint file (version 3 or 5), a Hugging Face GPT-2 directory or
 * `model.safetensors` (converted in memory), a depth preset `d6` … `d48`, or an explicit
 * shape `layers=L,heads=H,channels=C,seq=T[,vocab=V]`. Presets and shapes start from a seeded random init.
 *
 * @module
 */
import { type GPT2Config, parseModelDescriptor } from "./config.ts";
import { readCheckpoint, readCheckpointHeader } from "./checkpoint.ts";
import type { GPT2 } from "./gpt2.ts";
import { isHuggingFacePath, loadHuggingFace } from "./huggingface.ts";
import type { ParameterTensors } from "./checkpoint.ts";
import { randomParameters } from "./init.ts";
import { UserError } from "../util/errors.ts";
import { PARAMETER_NAMES } from "./tensors.ts";

/** Where a model's parameters come from. */
export type ModelSource =
  | { kind: "checkpoint"; path: string; config: GPT2Config; version: 3 | 5 }
  | { kind: "random"; descriptor: string; config: GPT2Config }
  | { kind: "huggingface"; path: string; config: GPT2Config; params: ParameterTensors };

/**
 * Decides what `spec` names and reads its config (for a file: only the validated header).
 *
 * @param spec A checkpoint path, `d6`…`d48`, or `layers=..,heads=..,channels=..,seq=..`.
 * @returns The source and its config.
 * @throws UsageError for a malformed descriptor, UserError naming the file for a bad checkpoint.
 * @example
 * ```ts
 * import { resolveModelSource } from "./source.ts";
 * const source = await resolveModelSource("d6");
 * if (source.kind !== "random" || source.config.channels !== 384) throw new Error("d6 is L=6, C=384");
 * ```
 */
export async function resolveModelSource(spec: string): Promise<ModelSource> {
  const config = parseModelDescriptor(spec);
  if (config) return { kind: "random", descriptor: spec, config };
  if (isHuggingFacePath(spec)) return { kind: "huggingface", path: spec, ...(await loadHuggingFace(spec)) };
  if (!(await Deno.stat(spec).then(() => true, (err) => !(err instanceof Deno.errors.NotFound)))) {
    throw new UserError(
      `${spec}: cannot read model: no such file or folder; give an llm.c .bin checkpoint, a local Hugging Face ` +
        "folder (config.json + model.safetensors; nothing is downloaded), d6…d48, or layers=L,heads=H,channels=C,seq=T",
    );
  }
  const header = await readCheckpointHeader(spec);
  return { kind: "checkpoint", path: spec, ...header };
}

/**
 * Fills a model's parameters from its source: the checkpoint's tensors, or the seeded random init.
 *
 * @param model A model built for `source.config`.
 * @param source From `resolveModelSource`.
 * @param seed Seed of the random init (ignored for checkpoints).
 */
export async function loadParameters<F, I>(model: GPT2<F, I>, source: ModelSource, seed = 0): Promise<void> {
  if (source.kind === "random") {
    for (const [name, data] of randomParameters(source.config, seed)) model.writeParameter(name, data);
    return;
  }
  const { params } = source.kind === "huggingface" ? source : await readCheckpoint(source.path);
  for (const name of PARAMETER_NAMES) model.writeParameter(name, params[name]);
}

/**
 * Resolves `spec`, builds a model for its config with `create`, and fills the parameters.
 *
 * @param spec A checkpoint path or descriptor (see `resolveModelSource`).
 * @param create Builds an empty model for a config on some backend, e.g. `(c) => createCpuModel(c, B, T)`.
 * @param options `seed` of the random init (default 0).
 * @returns The loaded model.
 * @example
 * ```ts
 * import { openModel } from "./source.ts";
 * import { createCpuModel } from "./cpu_model.ts";
 * const model = await openModel("layers=1,heads=2,channels=8,seq=4,vocab=10", (c) => createCpuModel(c, 1, 4), { seed: 1 });
 * if ((await model.readParameters()).ln1w[0] !== 1) throw new Error("layernorm weights start at 1");
 * ```
 */
export async function openModel<F, I>(
  spec: string,
  create: (config: GPT2Config) => Promise<GPT2<F, I>>,
  options: { seed?: number } = {},
): Promise<GPT2<F, I>> {
  const source = await resolveModelSource(spec);
  const model = await create(source.config);
  await loadParameters(model, source, options.seed ?? 0);
  return model;
}
