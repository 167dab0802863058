/**
 * `gpt2 convert IN OUT`: Hugging Face GPT-2 (a local directory, or `model.safetensors` with `config.json` beside it)
 * → llm.c model file (version 3 fp32, or 5 bf16 with `--bf16`), and llm.c model file → Hugging Face directory that
 * `transformers.GPT2LMHeadModel.from_pretrained` loads. The direction follows from IN. Nothing is downloaded.
 *
 * @module
 */
import type { Command } from "./_command.ts";
import { type CommandSpec, helpText, parseFlags } from "../util/flags.ts";
import { UsageError, UserError } from "../util/errors.ts";
import { errorText, writeFileAtomic } from "../util/fs.ts";
import {
  CHECKPOINT_MAGIC,
  HEADER_BYTES,
  type ParameterTensors,
  readCheckpoint,
  writeCheckpoint,
} from "../model/checkpoint.ts";
import type { GPT2Config } from "../model/config.ts";
import { isHuggingFacePath, loadHuggingFace, saveHuggingFace } from "../model/huggingface.ts";
import { f32ToBf16Bits } from "../model/safetensors.ts";
import { type ParameterName, parameterSpecs } from "../model/tensors.ts";

const SPEC: CommandSpec = {
  usage: "gpt2 convert IN OUT [options]",
  description: [
    "Converts GPT-2 weights between Hugging Face's format and llm.c's model file. IN is a local path: nothing is",
    "downloaded. Get a Hub model first, e.g. 'huggingface-cli download openai-community/gpt2 --local-dir gpt2-hf'",
    "or 'git clone https://huggingface.co/openai-community/gpt2 gpt2-hf'.",
    "",
    "  IN = a local Hugging Face folder (config.json + model.safetensors), or a .safetensors file with config.json",
    "       beside it: OUT is an llm.c model file, version 3 (fp32) or 5 (bf16, --bf16). F32, F16 and BF16",
    "       tensors are read; the vocabulary is padded to a multiple of 128 with zero rows (50257 -> 50304).",
    "  IN = an llm.c model file (version 3 or 5): OUT is a directory with model.safetensors (fp32) and",
    "       config.json, loadable by transformers.GPT2LMHeadModel.from_pretrained(OUT).",
    "",
    "Examples:",
    "  gpt2 convert ./gpt2-hf/ gpt2_124M.bin                         (a local folder, downloaded beforehand)",
    "  gpt2 convert ./gpt2-hf/model.safetensors gpt2_124M_bf16.bin --bf16",
    "  gpt2 convert ./log124M/model_00020000.bin ./hf-out/",
  ].join("\n"),
  flags: [
    { name: "bf16", kind: "bool", help: "Hugging Face -> llm.c: write version 5 (bfloat16) instead of 3" },
    { name: "json", kind: "bool", help: 'print one JSON object {type: "end", input, output, ...} instead of text' },
  ],
};

/** The `convert` subcommand. */
export const convert: Command = {
  name: "convert",
  summary: "convert GPT-2 weights between Hugging Face (safetensors) and llm.c files",
  async run(argv: string[]): Promise<number> {
    const flags = parseFlags(argv, SPEC);
    if (flags.help) {
      console.log(helpText(SPEC));
      return 0;
    }
    if (flags.positionals.length !== 2) {
      throw new UsageError(`Expected IN and OUT, got ${flags.positionals.length} arguments; see 'gpt2 convert --help'`);
    }
    const [input, output] = flags.positionals;
    const bf16 = Boolean(flags.values.bf16);
    const json = Boolean(flags.values.json);
    await requireLocalInput(input);
    const isDir = await Deno.stat(output).then((s) => s.isDirectory, () => undefined);
    let result: ConvertResult;
    if (isHuggingFacePath(input)) {
      if (isDir) throw new UserError(`${output}: is a directory; give the llm.c model file to write`);
      const { config, params } = await loadHuggingFace(input);
      if (bf16) await writeCheckpointBf16(output, config, params);
      else await writeCheckpoint(output, config, params);
      result = { type: "end", input, output, direction: "huggingface-to-llmc", version: bf16 ? 5 : 3, config };
      if (!json) {
        console.log(
          `${input} -> ${output}: llm.c model file version ${bf16 ? "5 (bf16)" : "3 (fp32)"}, ${shape(config)}`,
        );
      }
    } else {
      if (bf16) throw new UsageError("--bf16 applies to Hugging Face -> llm.c; Hugging Face output is fp32");
      if (isDir === false) throw new UserError(`${output}: exists and is not a directory; give a directory to write`);
      const { config, params, version } = await readCheckpoint(input);
      const written = await saveHuggingFace(output, config, params);
      result = { type: "end", input, output, direction: "llmc-to-huggingface", version, config };
      if (!json) console.log(`${input} -> ${written.weights} + config.json: Hugging Face GPT-2, ${shape(config)}`);
    }
    if (json) console.log(JSON.stringify(result));
    return 0;
  },
};

/** What `--json` prints: `version` is the llm.c file's (written, or read for llm.c -> Hugging Face). */
interface ConvertResult {
  type: "end";
  input: string;
  output: string;
  direction: "huggingface-to-llmc" | "llmc-to-huggingface";
  version: number;
  config: GPT2Config;
}

/**
 * Fails with one line when IN does not exist, before it is taken for either format: a Hub id such as
 * `openai-community/gpt2` is a path here, and nothing is downloaded.
 */
async function requireLocalInput(input: string): Promise<void> {
  try {
    await Deno.stat(input);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw new UserError(`${input}: cannot read (${errorText(err)})`);
    const hubLike = /^[\w.-]+\/[\w.-]+$/.test(input) && !/\.(bin|safetensors|json)$/.test(input);
    throw new UserError(
      `${input}: cannot read model: no such file or folder; IN must be a local Hugging Face folder ` +
        "(config.json + model.safetensors) or an llm.c .bin model file, and nothing is downloaded" +
        (hubLike ? ` (for the Hub model run 'huggingface-cli download ${input} --local-dir DIR' first)` : ""),
    );
  }
}

function shape(c: GPT2Config): string {
  return `L=${c.numLayers} NH=${c.numHeads} C=${c.channels} V=${c.vocabSize} (Vp ${c.paddedVocabSize}) ` +
    `maxT=${c.maxSeqLen}`;
}

/**
 * Writes an llm.c version-5 checkpoint: version 3's header with `[1] = 5`, then every parameter rounded to bfloat16
 * (nearest, ties to even, as llm.c does). `model/checkpoint.ts` reads it back.
 */
async function writeCheckpointBf16(path: string, config: GPT2Config, params: ParameterTensors): Promise<void> {
  const header = new Int32Array(HEADER_BYTES / 4);
  const { maxSeqLen, vocabSize, numLayers, numHeads, channels, paddedVocabSize } = config;
  header.set([CHECKPOINT_MAGIC, 5, maxSeqLen, vocabSize, numLayers, numHeads, channels, paddedVocabSize]);
  const chunks: Uint8Array[] = [new Uint8Array(header.buffer)];
  for (const spec of parameterSpecs(config)) {
    chunks.push(new Uint8Array(f32ToBf16Bits(params[spec.name as ParameterName]).buffer));
  }
  await writeFileAtomic(path, chunks);
}
