/**
 * The checkpoint directory of a training run: every `-n` steps and at the end, `model_NNNNNNNN.bin` (llm.c v3),
 * `state_NNNNNNNN.bin` (AdamW m and v, step, RNG and DataLoader position) and then an empty `DONE_NNNNNNNN`
 * marker. Each file is written to a temp name and renamed; the marker comes last, so a step without a marker was
 * interrupted and is never resumed from. `-y 1` resumes from the newest step whose files all validate.
 *
 * @module
 */
import { join } from "node:path";
import { readCheckpoint, writeCheckpoint } from "../model/checkpoint.ts";
import type { GPT2Config } from "../model/config.ts";
import type { ParameterTensors } from "../model/checkpoint.ts";
import { UsageError, UserError } from "../util/errors.ts";
import { writeFileAtomic } from "../util/fs.ts";
import { readStateFile, type StateMeta, writeStateFile } from "./state_file.ts";
import type { DataLoaderState } from "../prepro/dataloader.ts";
import type { LossScaleState } from "./loss_scale.ts";

/** The three file names of the checkpoint at `step`. */
export function checkpointFiles(outDir: string, step: number): { model: string; state: string; done: string } {
  const n = String(step).padStart(8, "0");
  return {
    model: join(outDir, `model_${n}.bin`),
    state: join(outDir, `state_${n}.bin`),
    done: join(outDir, `DONE_${n}`),
  };
}

/** What is saved at a checkpoint. */
export interface CheckpointData {
  config: GPT2Config;
  params: ParameterTensors;
  m: Float32Array;
  v: Float32Array;
  meta: StateMeta;
}

/**
 * Writes the model, the state and finally the DONE marker for `step`.
 *
 * @param outDir Run directory.
 * @param step Number of completed optimizer steps.
 * @param data What to save.
 * @param stop Asked after each file is renamed into place: true stops there (a second Ctrl-C), leaving a checkpoint
 *   without its DONE marker, which is never resumed from.
 * @returns Whether the checkpoint is complete (its DONE marker written).
 */
export async function saveCheckpoint(
  outDir: string,
  step: number,
  data: CheckpointData,
  stop: () => boolean = () => false,
): Promise<boolean> {
  const files = checkpointFiles(outDir, step);
  if (stop()) return false;
  await writeCheckpoint(files.model, data.config, data.params);
  if (stop()) return false;
  await writeStateFile(files.state, data.meta, data.m, data.v);
  if (stop()) return false;
  await writeFileAtomic(files.done, new Uint8Array());
  return true;
}

/** A checkpoint that validated and can be resumed from. */
export interface ResumePoint {
  step: number;
  modelPath: string;
  config: GPT2Config;
  params: ParameterTensors;
  m: Float32Array;
  v: Float32Array;
  meta: StateMeta;
}

/**
 * Finds the newest complete checkpoint in `outDir`. Steps whose files are missing or fail validation are skipped
 * with a warning through `warn`; they are never loaded. A checkpoint that is valid but of another model shape than
 * `config` stops the search with a UsageError saying what differs: resuming it would restart the run from scratch
 * over the earlier run's files.
 *
 * @param outDir Run directory.
 * @param config The shape of the model being trained.
 * @param arenaElements Length of the m and v arenas the current model expects.
 * @param warn Receives one line per skipped checkpoint.
 * @returns The resume point, or undefined when there is none.
 */
export async function findResumePoint(
  outDir: string,
  config: GPT2Config,
  arenaElements: number,
  warn: (line: string) => void,
): Promise<ResumePoint | undefined> {
  const steps: number[] = [];
  try {
    for await (const entry of Deno.readDir(outDir)) {
      const m = /^DONE_(\d{8})$/.exec(entry.name);
      if (m && entry.isFile) steps.push(Number(m[1]));
    }
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw new UserError(`${outDir}: cannot list the checkpoint directory (${(err as Error).message})`);
  }
  steps.sort((a, b) => b - a);
  for (const step of steps) {
    const files = checkpointFiles(outDir, step);
    try {
      const saved = await readCheckpoint(files.model);
      const differences = shapeDifferences(saved.config, config);
      if (differences.length) {
        throw new UsageError(
          `${files.model}: the run in ${outDir} trained a model with ${differences.join(", ")}; resume it with ` +
            `the same -e, or choose another -o`,
        );
      }
      const { meta, m, v } = await readStateFile(files.state, arenaElements);
      if (meta.step !== step) throw new UserError(`${files.state}: holds step ${meta.step}, expected ${step}`);
      return { step, modelPath: files.model, config: saved.config, params: saved.params, m, v, meta };
    } catch (err) {
      if (!(err instanceof UserError) || err instanceof UsageError) throw err;
      warn(`warning: skipping checkpoint ${step}: ${err.message}`);
    }
  }
  return undefined;
}

const SHAPE_FIELDS = [
  ["numLayers", "layers"],
  ["numHeads", "heads"],
  ["channels", "channels"],
  ["maxSeqLen", "seq"],
  ["vocabSize", "vocab"],
  ["paddedVocabSize", "padded vocab"],
] as const;

/** "heads=3 where -e asks for 4"-style phrases for every field in which `saved` and `wanted` differ. */
function shapeDifferences(saved: GPT2Config, wanted: GPT2Config): string[] {
  return SHAPE_FIELDS.filter(([key]) => saved[key] !== wanted[key])
    .map(([key, label]) => `${label}=${saved[key]} where -e asks for ${wanted[key]}`);
}

/** What a state file's JSON block holds for the trainer (train/trainer.ts). */
export interface RunMeta {
  [key: string]: unknown;
  step: number;
  B: number;
  T: number;
  tokensPerStep: number;
  /** The run's planned length (absent in state files written before it was recorded). */
  maxSteps?: number;
  loader: DataLoaderState;
  rng: string;
  /** With dynamic loss scaling: its state after this step. */
  lossScale?: LossScaleState;
}

/** Whether every element is finite (a checkpoint of NaN or Inf weights is never written). */
export function allFinite(a: Float32Array): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) return false;
  return true;
}
