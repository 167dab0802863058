/**
 * `gpt2 train`: llm.c's trainer flags (`train_gpt2cu`'s letters, plus long names) parsed into `TrainOptions`.
 *
 * @module
 */
import type { Command } from "./_command.ts";
import { parseDeviceChoice, parsePrecisionChoice } from "../model/backends.ts";
import { parseAttentionKind } from "../model/block.ts";
import { HELLASWAG_VAL_FILE } from "../prepro/hellaswag.ts";
import { parseScheduleKind } from "../train/schedule.ts";
import { train } from "../train/trainer.ts";
import { UsageError } from "../util/errors.ts";
import { type CommandSpec, parseFlagsOnly, requireInt, requireNumber } from "../util/flags.ts";

const SPEC: CommandSpec = {
  usage: "gpt2 train [options]",
  description: "Train GPT-2 on llm.c token files. One line per step; val loss, samples and checkpoints on the way.\n" +
    "Example: gpt2 train -e d6 -b 4 -t 64 -x 200 -o out/d6",
  flags: [
    {
      name: "train",
      short: "i",
      kind: "string",
      default: "data/tinyshakespeare/tiny_shakespeare_train.bin",
      help: "train token files (glob)",
    },
    {
      name: "val",
      short: "j",
      kind: "string",
      default: "data/tinyshakespeare/tiny_shakespeare_val.bin",
      help: "val token files (glob)",
    },
    {
      name: "model",
      short: "e",
      kind: "string",
      default: "d6",
      help: "checkpoint file, d6|d12|d24|d36|d48, or layers=L,heads=H,channels=C,seq=T",
    },
    {
      name: "out",
      short: "o",
      kind: "string",
      default: "out",
      help: "output directory for log.jsonl, loss.svg and checkpoints ('' for none)",
    },
    { name: "batch", short: "b", kind: "int", default: 4, help: "micro-batch size B" },
    { name: "seq", short: "t", kind: "int", default: 64, help: "sequence length T (≤ the model's max_seq_len)" },
    {
      name: "total-batch",
      short: "d",
      kind: "int",
      default: -1,
      help: "tokens per optimizer step (gradient accumulation); -1: B·T",
    },
    { name: "lr", short: "l", kind: "float", default: 3e-4, help: "peak learning rate" },
    { name: "warmup", short: "u", kind: "int", default: 0, help: "linear warmup steps" },
    {
      name: "final-lr-frac",
      short: "q",
      kind: "float",
      default: 1.0,
      help: "final learning rate as a fraction of the peak",
    },
    { name: "schedule", short: "k", kind: "string", default: "cosine", help: "cosine | linear | constant | wsd" },
    { name: "weight-decay", short: "c", kind: "float", default: 0.0, help: "AdamW weight decay" },
    { name: "max-steps", short: "x", kind: "int", default: -1, help: "optimizer steps; -1: one epoch" },
    { name: "val-every", short: "v", kind: "int", default: 20, help: "val loss every N steps (0: never)" },
    { name: "val-batches", short: "m", kind: "int", default: 20, help: "batches per val loss" },
    { name: "sample-every", short: "s", kind: "int", default: 20, help: "sample text every N steps (0: never)" },
    { name: "gen-tokens", short: "g", kind: "int", default: 64, help: "tokens per sample (≤ T)" },
    {
      name: "checkpoint-every",
      short: "n",
      kind: "int",
      default: 0,
      help: "checkpoint every N steps (0: only at the end)",
    },
    {
      name: "resume",
      short: "y",
      kind: "int",
      default: 0,
      help: "1: resume from the newest complete checkpoint in -o",
    },
    { name: "seed", kind: "int", default: 42, help: "seed of the data order, init and sampling" },
    { name: "device", kind: "string", default: "auto", help: "auto | gpu | cpu" },
    {
      name: "attention",
      kind: "string",
      default: "materialized",
      help: "materialized | flash (no B·NH·T·T tensors: less memory; slower on the H200 so far)",
    },
    {
      name: "precision",
      kind: "string",
      default: "fp32",
      help: "fp32 | f16 (the matmuls read an f16 copy of the float32 master weights) | auto (f16 with shader-f16)",
    },
    {
      name: "overwrite",
      kind: "bool",
      default: false,
      help: "start afresh in -o even if it holds another run's checkpoints (they are deleted)",
    },
    {
      name: "loss-scale",
      kind: "string",
      default: "off",
      help:
        "off | dynamic (the loss times 2^16, halved and the step skipped on overflow, doubled after 2000 clean steps)",
    },
    {
      name: "hellaswag-every",
      kind: "int",
      default: 0,
      help: "HellaSwag acc_norm every N steps and at the end (0: never; llm.c's -h)",
    },
    {
      name: "hellaswag",
      kind: "string",
      default: HELLASWAG_VAL_FILE,
      help: "HellaSwag eval file (gpt2 prepro hellaswag)",
    },
    { name: "hellaswag-examples", kind: "int", default: 0, help: "evaluate the first N HellaSwag examples (0: all)" },
    { name: "json", kind: "bool", default: false, help: "print JSON lines instead of text" },
    { name: "profile", kind: "bool", default: false, help: "print a per-kernel GPU time table for the second step" },
  ],
}; // deno-fmt-ignore

/** The `train` command. */
export const trainCommand: Command = {
  name: "train",
  summary: "train a model on llm.c token files (checkpoints, resume, val loss, samples)",
  async run(argv) {
    const f = parseFlagsOnly(argv, SPEC, "train");
    if (!f) return 0;
    const v = f.values;
    const lr = requireNumber("-l", v["lr"], { min: 0, minExclusive: true });
    const resume = requireInt("-y", v["resume"], 0);
    if (resume > 1) throw new UsageError(`-y: must be 0 or 1, got ${resume}`);
    const out = v["out"] as string;
    const lossScale = v["loss-scale"] as string;
    if (lossScale !== "off" && lossScale !== "dynamic") {
      throw new UsageError(`--loss-scale: must be off or dynamic, got '${lossScale}'`);
    }
    const result = await train({
      trainPattern: v["train"] as string,
      valPattern: v["val"] as string,
      model: v["model"] as string,
      outDir: out === "" ? undefined : out,
      B: requireInt("-b", v["batch"], 1),
      T: requireInt("-t", v["seq"], 1),
      totalBatchTokens: minusOneOrPositive("-d", v["total-batch"], "B·T"),
      learningRate: lr,
      warmupSteps: requireInt("-u", v["warmup"], 0),
      finalFraction: requireNumber("-q", v["final-lr-frac"], { min: 0, max: 1 }),
      schedule: parseScheduleKind(v["schedule"] as string),
      weightDecay: requireNumber("-c", v["weight-decay"], { min: 0 }),
      maxSteps: minusOneOrPositive("-x", v["max-steps"], "one epoch"),
      valEvery: requireInt("-v", v["val-every"], 0),
      valBatches: requireInt("-m", v["val-batches"], 1),
      sampleEvery: requireInt("-s", v["sample-every"], 0),
      genTokens: requireInt("-g", v["gen-tokens"], 0),
      checkpointEvery: requireInt("-n", v["checkpoint-every"], 0),
      resume: resume === 1,
      seed: requireSeed(v["seed"]),
      device: parseDeviceChoice(v["device"] as string),
      attention: parseAttentionKind(v["attention"] as string),
      precision: parsePrecisionChoice(v["precision"] as string),
      json: v["json"] as boolean,
      profile: v["profile"] as boolean,
      overwrite: v["overwrite"] as boolean,
      lossScale: lossScale === "dynamic" ? {} : undefined,
      hellaswag: {
        every: requireInt("--hellaswag-every", v["hellaswag-every"], 0),
        path: v["hellaswag"] as string,
        examples: requireInt("--hellaswag-examples", v["hellaswag-examples"], 0) || undefined,
      },
    });
    return result.interrupted || result.steps > 0 ? 0 : 1;
  },
};

/** `-x` and `-d`: -1 picks the default (`meaning`), otherwise a count >= 1. */
function minusOneOrPositive(label: string, value: unknown, meaning: string): number {
  if (value === -1) return -1;
  if (typeof value === "number" && Number.isInteger(value) && value >= 1) return value;
  throw new UsageError(`${label}: must be -1 (${meaning}) or >= 1, got ${value}`);
}

/**
 * `--seed`: the data loader's MT19937 and the weight init take the seed as an unsigned 32-bit word (`seed >>> 0`),
 * so a negative seed or one of 2^32 or more would silently alias another seed (-1 would shuffle like 4294967295).
 */
function requireSeed(value: unknown): number {
  if (typeof value === "number" && Number.isInteger(value) && value >= 0 && value <= 0xffffffff) return value;
  throw new UsageError(`--seed: must be an integer in [0, 4294967295] (a 32-bit seed), got ${value}`);
}
