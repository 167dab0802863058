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
import { UserError } from "../util/errors.ts";
import { writeFileAtomic } from "../util/fs.ts";
import { readStateFile, type StateMeta, writeStateFile } from "./state_file.ts";

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
 */
export async function saveCheckpoint(outDir: string, step: number, data: CheckpointData): Promise<void> {
  const files = checkpointFiles(outDir, step);
  await writeCheckpoint(files.model, data.config, data.params);
  await writeStateFile(files.state, data.meta, data.m, data.v);
  await writeFileAtomic(files.done, new Uint8Array());
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
 * with a warning through `warn`; they are never loaded.
 *
 * @param outDir Run directory.
 * @param arenaElements Length of the m and v arenas the current model expects.
 * @param warn Receives one line per skipped checkpoint.
 * @returns The resume point, or undefined when there is none.
 */
export async function findResumePoint(
  outDir: string,
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
      const { config, params } = await readCheckpoint(files.model);
      const { meta, m, v } = await readStateFile(files.state, arenaElements);
      if (meta.step !== step) throw new UserError(`${files.state}: holds step ${meta.step}, expected ${step}`);
      return { step, modelPath: files.model, config, params, m, v, meta };
    } catch (err) {
      if (!(err instanceof UserError)) throw err;
      warn(`warning: skipping checkpoint ${step}: ${err.message}`);
    }
  }
  return undefined;
}
