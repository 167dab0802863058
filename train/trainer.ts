/**
 * The training loop behind `gpt2 train`, with llm.c's trainer semantics: shuffled train batches, gradient
 * accumulation up to `-d` tokens per step, a learning-rate schedule, AdamW (betas 0.9/0.95, eps 1e-8) with the
 * global gradient norm clipped at 1.0, val loss every `-v` steps, a sample every `-s` steps, checkpoints every `-n`
 * steps and at the end, exact resume with `-y 1`, and Ctrl-C that finishes the step and saves.
 *
 * Order within iteration `step` (= optimizer steps done so far): checkpoint, val, sample, then the train step.
 * Saving first means a resumed run repeats exactly what the original did after that checkpoint.
 *
 * @module
 */
import type { ParameterTensors } from "../model/checkpoint.ts";
import { createModel, type DeviceChoice } from "../model/backends.ts";
import { GPT2_EOT } from "../model/config.ts";
import { GpuOps } from "../gpu/backend.ts";
import { formatProfile } from "../gpu/profiler.ts";
import { loadParameters, resolveModelSource } from "../model/source.ts";
import { PARAMETER_NAMES } from "../model/tensors.ts";
import { DataLoader, type DataLoaderState } from "../prepro/dataloader.ts";
import { StreamingDecoder } from "../prepro/tokenizer.ts";
import { UsageError } from "../util/errors.ts";
import { checkpointFiles, findResumePoint, saveCheckpoint } from "./checkpoints.ts";
import { RunReport } from "./report.ts";
import { sampleToken, Xorshift64Star } from "./sampler.ts";
import { learningRateAt, type ScheduleKind } from "./schedule.ts";

/** Everything `gpt2 train` can be told. Defaults live in `commands/train.ts`. */
export interface TrainOptions {
  trainPattern: string;
  valPattern: string;
  /** Checkpoint path, `dN`, or `layers=..,heads=..,channels=..,seq=..`. */
  model: string;
  outDir?: string;
  B: number;
  T: number;
  /** Tokens per optimizer step (`-d`); ≤ 0 means B·T (no accumulation). */
  totalBatchTokens: number;
  learningRate: number;
  warmupSteps: number;
  finalFraction: number;
  schedule: ScheduleKind;
  weightDecay: number;
  /** ≤ 0: one epoch of the train data. */
  maxSteps: number;
  valEvery: number;
  valBatches: number;
  sampleEvery: number;
  genTokens: number;
  checkpointEvery: number;
  resume: boolean;
  seed: number;
  device: DeviceChoice;
  json: boolean;
  /** Print a per-kernel table of the second step (WebGPU timestamp queries). */
  profile?: boolean;
  /** Called once per step with the step's loss (tests use it; the report prints it). */
  onStep?: (step: number, loss: number) => void;
  /** Called with each val loss. */
  onVal?: (step: number, valLoss: number) => void;
}

/** What a run ended with. */
export interface TrainResult {
  steps: number;
  lastLoss: number;
  lastValLoss?: number;
  interrupted: boolean;
}

/**
 * Trains a model as described by `o`.
 *
 * @param o Options (see `commands/train.ts` for flags and defaults).
 * @returns Final step, losses, and whether Ctrl-C stopped the run.
 */
export async function train(o: TrainOptions): Promise<TrainResult> {
  const source = await resolveModelSource(o.model);
  const cfg = source.config;
  if (o.T > cfg.maxSeqLen) throw new UsageError(`-t: ${o.T} is longer than the model's max_seq_len ${cfg.maxSeqLen}`);
  const tokensPerMicroStep = o.B * o.T;
  const tokensPerStep = o.totalBatchTokens > 0 ? o.totalBatchTokens : tokensPerMicroStep;
  if (tokensPerStep % tokensPerMicroStep !== 0) {
    throw new UsageError(`-d: ${tokensPerStep} tokens per step is not a multiple of B·T = ${tokensPerMicroStep}`);
  }
  const accumSteps = tokensPerStep / tokensPerMicroStep;
  using trainLoader = await DataLoader.open(o.trainPattern, { B: o.B, T: o.T, shuffle: true, seed: o.seed });
  using valLoader = o.valEvery > 0 ? await DataLoader.open(o.valPattern, { B: o.B, T: o.T }) : undefined;
  const maxSteps = o.maxSteps > 0 ? o.maxSteps : Math.max(1, Math.floor(trainLoader.numTokens / tokensPerStep));
  const valBatches = valLoader ? Math.min(o.valBatches, valLoader.windowsPerEpoch) : 0;
  const genTokens = Math.min(o.genTokens, o.T);

  const { model, description } = await createModel(cfg, o.B, o.T, o.device);
  if (o.profile && !(model.ops instanceof GpuOps)) {
    model.close();
    throw new UsageError("--profile: per-kernel timing needs the WebGPU backend (--device gpu)");
  }
  const sampler = { rng: new Xorshift64Star(1337 + o.seed) };
  const report = new RunReport({ json: o.json, outDir: o.outDir, append: o.resume });
  let startStep = 0;
  try {
    const mLength = (await model.ops.read(model.tensors.mArena)).length;
    const resumed = o.resume && o.outDir
      ? await findResumePoint(o.outDir, mLength, (line) => report.emit({ type: "info", message: line }))
      : undefined;
    if (resumed) {
      const meta = resumed.meta as {
        B?: number;
        T?: number;
        tokensPerStep?: number;
        loader: DataLoaderState;
        rng: string;
      };
      if (meta.B !== o.B || meta.T !== o.T || meta.tokensPerStep !== tokensPerStep) {
        throw new UsageError(
          `${resumed.modelPath}: was trained with B=${meta.B}, T=${meta.T}, -d ${meta.tokensPerStep}; ` +
            `resume with the same flags`,
        );
      }
      for (const name of PARAMETER_NAMES) model.writeParameter(name, resumed.params[name]);
      model.ops.write(model.tensors.mArena, resumed.m);
      model.ops.write(model.tensors.vArena, resumed.v);
      trainLoader.restore(meta.loader);
      sampler.rng = new Xorshift64Star(meta.rng);
      startStep = resumed.step;
    } else {
      await loadParameters(model, source, o.seed);
    }
    report.emit({
      type: "start",
      device: description,
      model: o.model,
      params: model.parameterCount,
      B: o.B,
      T: o.T,
      accumSteps,
      steps: maxSteps,
      trainTokens: trainLoader.numTokens,
      ...(resumed ? { resumedFrom: resumed.modelPath } : {}),
    });

    let interrupted = false;
    const onSigint = () => {
      interrupted = true;
    };
    Deno.addSignalListener("SIGINT", onSigint);
    let lastLoss = NaN;
    let lastValLoss: number | undefined;
    let emaMs = 0;
    const save = async (step: number) => {
      if (!o.outDir) return;
      const params = await model.readParameters() as ParameterTensors;
      const m = await model.ops.read(model.tensors.mArena);
      const v = await model.ops.read(model.tensors.vArena);
      const meta = { step, B: o.B, T: o.T, tokensPerStep, loader: trainLoader.state(), rng: sampler.rng.state() };
      await saveCheckpoint(o.outDir, step, { config: cfg, params, m, v, meta });
      const files = checkpointFiles(o.outDir, step);
      report.emit({ type: "checkpoint", step, model: files.model, state: files.state });
    };
    try {
      for (let step = startStep;; step++) {
        const last = step === maxSteps || interrupted;
        if (step > startStep && o.outDir && ((o.checkpointEvery > 0 && step % o.checkpointEvery === 0) || last)) {
          await save(step);
        }
        if (valLoader && (step % o.valEvery === 0 || last)) {
          valLoader.reset();
          let sum = 0;
          for (let i = 0; i < valBatches; i++) {
            const batch = valLoader.next();
            model.forward(batch.inputs, batch.targets);
            sum += await model.meanLoss();
          }
          lastValLoss = sum / valBatches;
          o.onVal?.(step, lastValLoss);
          report.emit({ type: "val", step, valLoss: lastValLoss });
        }
        if (o.sampleEvery > 0 && genTokens > 1 && ((step > 0 && step % o.sampleEvery === 0) || last)) {
          report.emit({ type: "sample", step, text: await sample(model, genTokens, sampler.rng) });
        }
        if (last) {
          if (interrupted) report.emit({ type: "info", message: `interrupted: stopped after step ${step}` });
          return { steps: step, lastLoss, lastValLoss, interrupted };
        }

        // The CPU backend never leaves the current task (its ops are synchronous), so yield once per step to let
        // the SIGINT listener run.
        await new Promise((resolve) => setTimeout(resolve, 0));
        const profiling = o.profile && step === startStep + 1 && model.ops instanceof GpuOps;
        if (profiling) (model.ops as GpuOps).startProfile();
        const t0 = performance.now();
        model.zeroGrad();
        let lossSum = 0;
        for (let micro = 0; micro < accumSteps; micro++) {
          const batch = trainLoader.next();
          model.forward(batch.inputs, batch.targets);
          model.backward(1 / accumSteps);
          lossSum += await model.meanLoss(); // read after backward: one GPU wait covers the whole micro-step
        }
        const lr = learningRateAt(step, {
          kind: o.schedule,
          learningRate: o.learningRate,
          warmupSteps: o.warmupSteps,
          finalFraction: o.finalFraction,
          totalSteps: maxSteps,
        });
        const norm = await model.update({
          learningRate: lr,
          beta1: 0.9,
          beta2: 0.95,
          eps: 1e-8,
          weightDecay: o.weightDecay,
          step: step + 1,
          maxGradNorm: 1.0,
        });
        await model.ops.read(model.ops.view(model.tensors.acts.losses, 0, 1)); // wait for the step to finish
        const ms = performance.now() - t0;
        if (profiling) {
          const table = formatProfile(await (model.ops as GpuOps).stopProfile());
          report.emit({ type: "info", message: `profile of step ${step + 1}:\n${table}` });
        }
        emaMs = step === startStep ? ms : 0.9 * emaMs + 0.1 * ms;
        lastLoss = lossSum / accumSteps;
        o.onStep?.(step + 1, lastLoss);
        report.emit({
          type: "step",
          step: step + 1,
          steps: maxSteps,
          loss: lastLoss,
          lr,
          norm: norm ?? NaN,
          ms,
          tokensPerSecond: tokensPerStep / (ms / 1000),
          etaSeconds: (maxSteps - step - 1) * emaMs / 1000,
        });
      }
    } finally {
      Deno.removeSignalListener("SIGINT", onSigint);
    }
  } finally {
    await report.close();
    model.close();
  }
}

/** Samples `genTokens` tokens from EOT with the training model (full recomputation, as llm.c's trainer does). */
async function sample(
  // deno-lint-ignore no-explicit-any
  model: import("../model/gpt2.ts").GPT2<any, any>,
  genTokens: number,
  rng: Xorshift64Star,
): Promise<string> {
  const { B, T } = model;
  const { vocabSize: V, paddedVocabSize: Vp } = model.config;
  // GPT-2's EOT starts a sample; a model with a smaller vocabulary uses its last token id instead.
  const tokens = new Int32Array(B * T).fill(Math.min(GPT2_EOT, V - 1));
  const decoder = new StreamingDecoder();
  let text = "";
  for (let t = 1; t < genTokens; t++) {
    model.forward(tokens);
    const row = await model.ops.read(model.ops.view(model.tensors.acts.logits, (t - 1) * Vp, Vp));
    const next = sampleToken(row, V, rng.nextFloat());
    tokens[t] = next;
    text += decoder.push(next);
  }
  return text + decoder.flush();
}
