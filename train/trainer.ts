/**
 * The training loop behind `gpt2 train`, with llm.c's trainer semantics: shuffled train batches, gradient
 * accumulation up to `-d` tokens per step, a learning-rate schedule, AdamW (betas 0.9/0.95, eps 1e-8) with the
 * global gradient norm clipped at 1.0 (optionally dynamic loss scaling: train/loss_scale.ts), val loss every `-v` steps, a sample every `-s` steps, checkpoints every `-n`
 * steps and at the end, exact resume with `-y 1`, and Ctrl-C that finishes the step and saves.
 *
 * Order within iteration `step` (= optimizer steps done so far): checkpoint, val, sample, then the train step.
 * Saving first means a resumed run repeats exactly what the original did after that checkpoint.
 *
 * @module
 */
import type { ParameterTensors } from "../model/checkpoint.ts";
import { createModel, type DeviceChoice, type PrecisionChoice } from "../model/backends.ts";
import type { AttentionKind } from "../model/block.ts";
import { formatProfile } from "../gpu/profiler.ts";
import { loadParameters, resolveModelSource } from "../model/source.ts";
import { PARAMETER_NAMES } from "../model/tensors.ts";
import { DataLoader } from "../prepro/dataloader.ts";
import { UsageError, UserError } from "../util/errors.ts";
import { allFinite, checkpointFiles, findResumePoint, type RunMeta, saveCheckpoint } from "./checkpoints.ts";
import { type Activity, RunClock } from "./eta.ts";
import { RunReport } from "./report.ts";
import { isRunFileIn, RunDirectory } from "./run_dir.ts";
import { Xorshift64Star } from "./sampler.ts";
import { sampleText } from "../model/decoder.ts";
import type { ScheduleKind } from "./schedule.ts";
import { StepQueue, StepTimes, trainStep, valLoss } from "./step.ts";
import { DynamicLossScale } from "./loss_scale.ts";
import { hellaswagEvent, HellaswagProbe } from "./hellaswag.ts";

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
  /** Start afresh in an `outDir` that holds another run's checkpoints, replacing them (`--overwrite`). */
  overwrite?: boolean;
  seed: number;
  device: DeviceChoice;
  /** How the blocks compute attention ("materialized" when absent; "flash" keeps no (B,NH,T,T) tensor). */
  attention?: AttentionKind;
  /** "f16": the matmuls read an f16 copy of the float32 weights ("auto": where the GPU has shader-f16). */
  precision?: PrecisionChoice;
  json: boolean;
  /** Print a per-kernel table of the second step (WebGPU timestamp queries). */
  profile?: boolean;
  /** HellaSwag accuracy every N steps and at the end (0 or absent: never), on `hellaswag.path`'s first `examples`. */
  hellaswag?: { every: number; path: string; examples?: number };
  /** Dynamic loss scaling (`--loss-scale dynamic`; train/loss_scale.ts), optionally from another initial scale. */
  lossScale?: { initial?: number };
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

/** Exit code of a run stopped by a second Ctrl-C (128 + SIGINT, as shells report it). */
const EXIT_INTERRUPTED = 130;

/**
 * Trains a model as described by `o`.
 *
 * @param o Options (see `commands/train.ts` for flags and defaults).
 * @returns Final step, losses, and whether Ctrl-C stopped the run.
 * @throws UserError when the run cannot start (bad files, flags, output directory) or must stop (a non-finite loss
 *   or gradient norm: exit 1; a second Ctrl-C: exit 130). A checkpoint of broken weights is never written.
 */
export async function train(o: TrainOptions): Promise<TrainResult> {
  const started = performance.now();
  const source = await resolveModelSource(o.model);
  const cfg = source.config;
  if (o.T > cfg.maxSeqLen) throw new UsageError(`-t: ${o.T} is longer than the model's max_seq_len ${cfg.maxSeqLen}`);
  const tokensPerMicroStep = o.B * o.T;
  const tokensPerStep = o.totalBatchTokens > 0 ? o.totalBatchTokens : tokensPerMicroStep;
  if (tokensPerStep % tokensPerMicroStep !== 0) {
    throw new UsageError(`-d: ${tokensPerStep} tokens per step is not a multiple of B·T = ${tokensPerMicroStep}`);
  }
  if (o.outDir && o.overwrite && source.kind === "checkpoint" && isRunFileIn(o.outDir, source.path)) {
    throw new UsageError(`-e ${o.model}: --overwrite would delete it; copy it out of ${o.outDir} first`);
  }
  const accumSteps = tokensPerStep / tokensPerMicroStep;
  const { vocabSize } = cfg; // a token outside it is reported with its shard and position
  using trainLoader = await DataLoader.open(o.trainPattern, { B: o.B, T: o.T, shuffle: true, seed: o.seed, vocabSize });
  using valLoader = o.valEvery > 0 ? await DataLoader.open(o.valPattern, { B: o.B, T: o.T, vocabSize }) : undefined;
  const maxSteps = o.maxSteps > 0 ? o.maxSteps : Math.max(1, Math.floor(trainLoader.numTokens / tokensPerStep));
  const valBatches = valLoader ? Math.min(o.valBatches, valLoader.windowsPerEpoch) : 0;
  const genTokens = Math.min(o.genTokens, o.T);

  // The output directory is claimed (created, locked, checked for an earlier run) before the model is built.
  const warnings: string[] = [];
  using runDir = o.outDir
    ? await RunDirectory.claim(o.outDir, {
      resume: o.resume,
      overwrite: o.overwrite ?? false,
      warn: (w) => warnings.push(w),
    })
    : undefined;
  const report = new RunReport({ json: o.json, outDir: runDir?.path, append: o.resume });
  for (const message of warnings) report.emit({ type: "warning", message });
  const end = (step: number, reason: string, extra: Record<string, unknown> = {}) =>
    report.emit({
      type: "end",
      step,
      steps: maxSteps,
      reason,
      seconds: (performance.now() - started) / 1000,
      ...extra,
    });
  let placed: Awaited<ReturnType<typeof createModel>> | undefined;
  let probe: HellaswagProbe | undefined; // its own inference model: the trained model, loader and RNG stay as they are
  let failed = false;
  try {
    placed = await createModel(cfg, o.B, o.T, o.device, { attention: o.attention, precision: o.precision });
    const model = placed.model;
    const hs = o.hellaswag?.every ? o.hellaswag : undefined;
    const probeOptions = { examples: hs?.examples, device: placed.device, attention: o.attention };
    if (hs) probe = await HellaswagProbe.open(hs.path, cfg, probeOptions);
    if (o.profile && !model.exec.profiler) {
      throw new UsageError(
        "--profile: per-kernel timing needs the WebGPU backend with timestamp queries (--device gpu)",
      );
    }
    const sampler = { rng: new Xorshift64Star(1337 + o.seed) };
    const resumed = o.resume && runDir
      ? await findResumePoint(
        runDir.path,
        cfg,
        model.layout.params.totalElements,
        (message) => report.emit({ type: "warning", message }),
      )
      : undefined;
    let startStep = 0;
    const initial = o.lossScale?.initial;
    let lossScale = o.lossScale
      ? new DynamicLossScale(initial ? { scale: initial, cleanSteps: 0, skipped: 0 } : undefined)
      : undefined;
    if (resumed) {
      const meta = resumed.meta as RunMeta;
      if (meta.B !== o.B || meta.T !== o.T || meta.tokensPerStep !== tokensPerStep) {
        throw new UsageError(
          `${resumed.modelPath}: was trained with B=${meta.B}, T=${meta.T}, -d ${meta.tokensPerStep}; ` +
            `resume with the same flags`,
        );
      }
      startStep = resumed.step;
      report.resumeAt(startStep);
      if (startStep >= maxSteps) {
        report.emit({
          type: "info",
          message: `${resumed.modelPath}: the run is complete at step ${startStep} (-x ${maxSteps}); ` +
            `nothing to do (a larger -x trains it further)`,
        });
        end(startStep, "already complete");
        return { steps: startStep, lastLoss: NaN, interrupted: false };
      }
      if ((meta.lossScale !== undefined) !== (o.lossScale !== undefined)) {
        const was = meta.lossScale ? "with" : "without";
        throw new UsageError(`${resumed.modelPath}: was trained ${was} --loss-scale dynamic; resume the same way`);
      }
      if (meta.maxSteps !== undefined && meta.maxSteps !== maxSteps) {
        report.emit({
          type: "warning",
          message: `warning: the run was planned for ${meta.maxSteps} steps and now runs to ${maxSteps}: ` +
            `the learning-rate schedule after step ${startStep} follows the new length`,
        });
      }
      for (const name of PARAMETER_NAMES) model.writeParameter(name, resumed.params[name]);
      const adam = model.tensors.training!; // a training model: createModel's default
      model.exec.write(adam.mArena, resumed.m);
      model.exec.write(adam.vArena, resumed.v);
      trainLoader.restore(meta.loader);
      sampler.rng = new Xorshift64Star(meta.rng);
      if (meta.lossScale) lossScale = new DynamicLossScale(meta.lossScale);
    } else {
      await loadParameters(model, source, o.seed);
    }
    report.begin();
    report.emit({
      type: "start",
      device: placed.description,
      model: o.model,
      params: model.parameterCount,
      B: o.B,
      T: o.T,
      accumSteps,
      steps: maxSteps,
      trainTokens: trainLoader.numTokens,
      ...(o.attention === "flash" ? { attention: "flash" } : {}),
      precision: placed.precision,
      ...(lossScale ? { lossScale: lossScale.scale } : {}),
      ...(resumed ? { resumedFrom: resumed.modelPath } : {}),
    });

    // Ctrl-C once: finish the step, save, stop. Twice: stop as soon as the file being written is in place.
    let interrupted = false, stopNow = false;
    const onSigint = () => {
      if (interrupted) stopNow = true;
      interrupted = true;
      console.error(
        stopNow
          ? "Ctrl-C again: stopping once the file being written is complete"
          : `Ctrl-C: finishing this step, then ${runDir ? "saving a checkpoint and " : ""}stopping ` +
            `(Ctrl-C again: stop without completing the checkpoint)`,
      );
    };
    Deno.addSignalListener("SIGINT", onSigint);
    const clock = new RunClock({
      maxSteps,
      valEvery: valLoader ? o.valEvery : 0,
      sampleEvery: o.sampleEvery,
      checkpointEvery: o.checkpointEvery,
      checkpoints: runDir !== undefined,
      valBatches,
      genTokens,
    });
    const timed = async <R>(activity: Activity, work: () => Promise<R>): Promise<R> => {
      const t0 = performance.now();
      const result = await work();
      clock.record(activity, performance.now() - t0);
      return result;
    };
    let lastLoss = NaN;
    let lastValLoss: number | undefined;
    let savedStep = startStep; // the newest complete checkpoint (0: none)
    const newestCheckpoint = () =>
      runDir && savedStep > 0
        ? `the newest complete checkpoint is ${checkpointFiles(runDir.path, savedStep).model}`
        : "no checkpoint was written";
    const diverged = (step: number, what: string): never => {
      const message = `step ${step}: ${what}: training diverged (try a lower -l than ${o.learningRate}); ` +
        `stopped without saving these weights; ${newestCheckpoint()}`;
      end(step, "diverged", { error: message });
      throw new UserError(message);
    };
    const save = async (step: number) => {
      const params = await model.readParameters() as ParameterTensors;
      const m = await model.exec.read(model.tensors.training!.mArena);
      const v = await model.exec.read(model.tensors.training!.vArena);
      const broken = [...Object.entries(params), ["AdamW m", m], ["AdamW v", v]].find(([, a]) =>
        !allFinite(a as Float32Array)
      );
      if (broken) diverged(step, `${broken[0]} holds NaN or Inf`);
      const meta: RunMeta = {
        step,
        B: o.B,
        T: o.T,
        tokensPerStep,
        maxSteps,
        loader: trainLoader.state(),
        rng: sampler.rng.state(),
        ...(lossScale ? { lossScale: lossScale.state() } : {}),
      };
      const complete = await saveCheckpoint(runDir!.path, step, { config: cfg, params, m, v, meta }, () => stopNow);
      const files = checkpointFiles(runDir!.path, step);
      if (!complete) {
        const message = `stopped by a second Ctrl-C while saving step ${step} (incomplete, never resumed from); ` +
          newestCheckpoint();
        end(step, "interrupted", { error: message });
        throw new UserError(message, EXIT_INTERRUPTED);
      }
      savedStep = step;
      report.emit({ type: "checkpoint", step, model: files.model, state: files.state });
    };
    const saveDue = (step: number) =>
      runDir !== undefined && step > startStep && step !== savedStep &&
      (interrupted || step === maxSteps || (o.checkpointEvery > 0 && step % o.checkpointEvery === 0));
    const valDue = (step: number) => valLoader !== undefined && (step % o.valEvery === 0 || step === maxSteps);
    const hellaswagDue = (step: number) =>
      probe !== undefined && hs !== undefined && ((step > 0 && step % hs.every === 0) || step === maxSteps);
    const sampleDue = (step: number) =>
      o.sampleEvery > 0 && genTokens > 1 && ((step > 0 && step % o.sampleEvery === 0) || step === maxSteps);
    const profiledStep = startStep + 1;
    // Step `step` may start before the previous one's loss is read when nothing runs between them (StepQueue).
    const overlap = placed.device === "gpu" && !lossScale;
    const quietBefore = (step: number) =>
      step < maxSteps && !saveDue(step) && !valDue(step) && !hellaswagDue(step) && !sampleDue(step) &&
      !(o.profile && (step === profiledStep || step === profiledStep + 1));
    const steps = new StepQueue((step) =>
      trainStep(model, () => trainLoader.next(), step, {
        accumSteps,
        schedule: o.schedule,
        learningRate: o.learningRate,
        warmupSteps: o.warmupSteps,
        finalFraction: o.finalFraction,
        weightDecay: o.weightDecay,
        maxSteps,
      }, lossScale)
    );
    /** What runs between steps, each when due, on the weights after `step` steps: checkpoint, val, HellaSwag, sample. */
    const between = async (step: number) => {
      if (saveDue(step)) await timed("checkpoint", () => save(step));
      if (valLoader && valDue(step) && !interrupted) {
        lastValLoss = await timed("val", () => valLoss(model, valLoader, valBatches));
        if (!Number.isFinite(lastValLoss)) diverged(step, `the val loss is ${lastValLoss}`);
        o.onVal?.(step, lastValLoss);
        report.emit({ type: "val", step, valLoss: lastValLoss });
      }
      if (probe && hellaswagDue(step) && !interrupted) report.emit(hellaswagEvent(step, await probe.run(model)));
      if (sampleDue(step) && !interrupted) {
        const text = await timed("sample", () => sampleText(model, genTokens, sampler.rng));
        report.emit({ type: "sample", step, text });
      }
      if (saveDue(step)) await timed("checkpoint", () => save(step)); // Ctrl-C came during the val or sample
    };
    const times = new StepTimes();
    try {
      for (let step = startStep;; step++) {
        // A step started ahead was started only where nothing was due before it; a Ctrl-C meanwhile waits for it.
        const startedAhead = steps.ahead === step;
        if (!startedAhead) await between(step);
        if (!startedAhead && (step === maxSteps || interrupted)) {
          if (interrupted) report.emit({ type: "info", message: `interrupted: stopped after step ${step}` });
          end(step, interrupted ? "interrupted" : "complete", { lastLoss, lastValLoss });
          return { steps: step, lastLoss, lastValLoss, interrupted };
        }

        // The CPU backend never leaves the current task (its ops are synchronous), so yield once per step to let
        // the SIGINT listener run.
        await new Promise((resolve) => setTimeout(resolve, 0));
        const profiler = o.profile && step === profiledStep ? model.exec.profiler : undefined;
        profiler?.start();
        if (!startedAhead) times.restart(performance.now());
        const result = steps.take(step);
        if (overlap && !interrupted && quietBefore(step + 1)) steps.startAhead(step + 1);
        const { loss, norm, lr, scaled } = await result;
        const ms = times.done(performance.now());
        clock.record("step", ms);
        if (profiler) {
          const table = formatProfile(await profiler.stop());
          report.emit({ type: "info", message: `profile of step ${step + 1}:\n${table}` });
        }
        lastLoss = loss;
        o.onStep?.(step + 1, lastLoss);
        report.emit({
          type: "step",
          step: step + 1,
          steps: maxSteps,
          loss: lastLoss,
          lr,
          norm,
          ms,
          tokensPerSecond: tokensPerStep / (ms / 1000),
          etaSeconds: clock.secondsLeft(step + 1),
          ...(lossScale
            ? { lossScale: lossScale.scale, skipped: scaled === "skipped", skippedSteps: lossScale.skipped }
            : {}),
        });
        if (!Number.isFinite(lastLoss)) diverged(step + 1, `the loss is ${lastLoss}`);
        if (scaled === "diverged") diverged(step + 1, `the gradient norm is ${norm} at every loss scale`);
        if (!scaled && !Number.isFinite(norm)) diverged(step + 1, `the gradient norm is ${norm}`);
      }
    } finally {
      Deno.removeSignalListener("SIGINT", onSigint);
    }
  } catch (err) {
    failed = true;
    throw err;
  } finally {
    // When the run failed (say, on a full disk), its error is what the user sees, not a failure to draw the plot.
    await report.close().catch((err) => {
      if (!failed) throw err;
    });
    probe?.close();
    placed?.model.close();
  }
}
