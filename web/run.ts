/// <reference lib="dom" />
/**
 * One training run of the page: the model on its backend, the train and val loaders, the sampling generator and
 * the steps done. The run keeps all of it between `step` calls, so a run paused between steps and continued later
 * trains exactly what an uninterrupted run trains (the page's stop and resume). Every step is `trainStep`, the
 * CLI's own (train/step.ts), with `gpt2 train`'s defaults.
 *
 * @module
 */
import { CpuKernels } from "../cpu/kernels.ts";
import type { ParameterTensors } from "../model/checkpoint.ts";
import type { GPT2Config } from "../model/config.ts";
import { createCpuModel } from "../model/cpu_model.ts";
import { sampleText } from "../model/decoder.ts";
import type { GPT2 } from "../model/gpt2.ts";
import { createGpuModel } from "../model/gpu_model.ts";
import { randomParameters } from "../model/init.ts";
import type { ParameterName } from "../model/tensors.ts";
import { DataLoader } from "../prepro/dataloader.ts";
import { Xorshift64Star } from "../train/sampler.ts";
import { type StepSettings, trainStep, valLoss } from "../train/step.ts";
import { type SampleSettings, streamSample } from "./sampling.ts";

// deno-lint-ignore no-explicit-any
type Model = GPT2<any, any>;

/** What `gpt2 train` does by default beyond the form: val loss and a sample every 20 steps. */
const EVERY = 20;
const VAL_BATCHES = 20;
const GEN_TOKENS = 64;

/** Where the page computes: `auto` (WebGPU when the browser has an adapter, else the CPU) or `cpu`. */
export type PageDevice = "auto" | "cpu";

/** One step's entry of the page's log (`window.trainLog`). */
export interface LogEntry {
  step: number;
  loss: number;
  ms: number;
  valLoss?: number;
}

/** A run as the page drives it: here on the page's thread (`TrainingRun`) or in a Worker (web/worker_run.ts). */
export interface PageRun {
  /** Where it runs, in words. */
  readonly device: string;
  readonly settings: RunSettings;
  /** One entry per step done (the page's `window.trainLog`). */
  readonly log: LogEntry[];
  readonly stepsDone: number;
  readonly finished: boolean;
  /** The model's sequence length (a sample's most tokens). */
  readonly T: number;
  /** Runs the next step (see `TrainingRun.step`). */
  step(): Promise<{ entry: LogEntry; sample?: string }>;
  /** Samples with the model as it is (see `streamSample`); resolves to the number of tokens. */
  sample(s: SampleSettings, onText: (piece: string) => void): Promise<number>;
  /** The weights now, for a download. */
  readParameters(): Promise<ParameterTensors>;
  close(): void;
}

/** A run's token files: the train and val shards (llm.c's format) and what to call them. */
export interface RunShards {
  name: string;
  train: Uint8Array;
  val: Uint8Array;
}

/** What a run is made of. */
export interface RunSettings {
  config: GPT2Config;
  batch: number;
  seq: number;
  steps: number;
  lr: number;
  seed: number;
  device: PageDevice;
  /** The starting weights (a picked checkpoint); absent: the CLI's seeded random init. */
  params?: Record<ParameterName, Float32Array>;
}

/**
 * A model on WebGPU when the browser has an adapter (and `device` is not `cpu`), else on the CPU: WebAssembly
 * SIMD on this thread when the page is cross-origin isolated (the kernels need a shared memory; their Workers
 * would block the page's thread with `Atomics.wait`, which a page's main thread may not do, so there is one
 * thread), the scalar reference otherwise.
 *
 * @param cfg Model shape.
 * @param B Batch size.
 * @param T Sequence length.
 * @param device `auto` or `cpu`.
 * @param threads CPU threads: more than 1 only inside a Worker (web/worker_run.ts), where `Atomics.wait` may block.
 * @returns The model and a description of where it runs.
 */
export async function buildPageModel(
  cfg: GPT2Config,
  B: number,
  T: number,
  device: PageDevice,
  threads = 1,
): Promise<{ model: Model; device: string }> {
  const adapter = device === "auto" ? await navigator.gpu?.requestAdapter() : undefined;
  if (adapter) {
    const model = await createGpuModel(cfg, B, T);
    return { model, device: model.exec.description };
  }
  const why = device === "cpu" ? "device=cpu" : "no WebGPU adapter in this browser";
  if (globalThis.crossOriginIsolated) {
    const model = await createCpuModel(cfg, B, T, { kernels: (memory) => CpuKernels.create(memory, threads) });
    const where = threads > 1 ? `${threads} threads (Workers)` : "1 thread";
    return { model, device: `CPU, WebAssembly SIMD on ${where} (${why})` };
  }
  const model = await createCpuModel(cfg, B, T);
  return { model, device: `CPU, scalar reference (${why}; the page is not cross-origin isolated)` };
}

/** A training run that can be stepped, paused between steps and continued. */
export class TrainingRun implements PageRun {
  /** The model (its weights are the run's state). */
  readonly model: Model;
  /** Where it runs, in words. */
  readonly device: string;
  /** The run's settings. */
  readonly settings: RunSettings;
  /** One entry per step done. */
  readonly log: LogEntry[] = [];
  readonly #train: DataLoader;
  readonly #val: DataLoader;
  readonly #rng: Xorshift64Star;
  readonly #step: StepSettings;

  private constructor(model: Model, device: string, s: RunSettings, train: DataLoader, val: DataLoader) {
    this.model = model;
    this.device = device;
    this.settings = s;
    this.#train = train;
    this.#val = val;
    this.#rng = new Xorshift64Star(1337 + s.seed);
    this.#step = {
      accumSteps: 1,
      schedule: "cosine",
      learningRate: s.lr,
      warmupSteps: 0,
      finalFraction: 1,
      weightDecay: 0,
      maxSteps: s.steps,
    };
  }

  /**
   * Builds the model, fills its weights (the picked checkpoint's, or the seeded init `gpt2 train` uses) and opens
   * the shards as the CLI's loaders do (train shuffled with the run's seed).
   *
   * @param s The settings.
   * @param shards The train and val token files.
   * @param threads CPU threads (see `buildPageModel`).
   * @returns The run, at step 0.
   */
  static async create(s: RunSettings, shards: RunShards, threads = 1): Promise<TrainingRun> {
    const vocabSize = s.config.vocabSize;
    const train = DataLoader.fromShards([{ name: `${shards.name} (train)`, bytes: shards.train }], {
      B: s.batch,
      T: s.seq,
      shuffle: true,
      seed: s.seed,
      vocabSize,
    });
    const val = DataLoader.fromShards([{ name: `${shards.name} (val)`, bytes: shards.val }], {
      B: s.batch,
      T: s.seq,
      vocabSize,
    });
    const { model, device } = await buildPageModel(s.config, s.batch, s.seq, s.device, threads);
    try {
      const init = s.params ? Object.entries(s.params) : randomParameters(s.config, s.seed);
      for (const [name, data] of init) model.writeParameter(name as ParameterName, data);
    } catch (err) {
      model.close();
      throw err;
    }
    return new TrainingRun(model, device, s, train, val);
  }

  /** Steps done so far. */
  get stepsDone(): number {
    return this.log.length;
  }

  /** Whether every step of the run is done. */
  get finished(): boolean {
    return this.log.length >= this.settings.steps;
  }

  /**
   * Runs the next optimizer step; every 20 steps and at the last, also the val loss and the trainer's sample.
   *
   * @returns The step's entry and, where one was drawn, the sample's text.
   */
  async step(): Promise<{ entry: LogEntry; sample?: string }> {
    const step = this.log.length;
    const t0 = performance.now();
    const result = await trainStep(this.model, () => this.#train.next(), step, this.#step);
    const entry: LogEntry = { step: step + 1, loss: result.loss, ms: performance.now() - t0 };
    if (!Number.isFinite(result.loss)) throw new Error(`step ${step + 1}: the loss is ${result.loss}`);
    let sample: string | undefined;
    if ((step + 1) % EVERY === 0 || step + 1 === this.settings.steps) {
      entry.valLoss = await this.#valLoss();
      sample = await sampleText(this.model, Math.min(GEN_TOKENS, this.settings.seq), this.#rng);
    }
    this.log.push(entry);
    return { entry, sample };
  }

  /** The model's sequence length. */
  get T(): number {
    return this.model.T;
  }

  /**
   * Samples with the model as it is now (between steps), streaming the text.
   *
   * @param s Sampling settings.
   * @param onText Receives each token's text.
   * @returns The number of tokens sampled.
   */
  sample(s: SampleSettings, onText: (piece: string) => void): Promise<number> {
    return streamSample(this.model, s, onText);
  }

  /** @returns The weights now, in llm.c's order. */
  async readParameters(): Promise<ParameterTensors> {
    return await this.model.readParameters() as ParameterTensors;
  }

  /** Releases the model (GPU buffers, CPU kernels). */
  close(): void {
    this.model.close();
  }

  async #valLoss(): Promise<number> {
    return await valLoss(this.model, this.#val, Math.min(VAL_BATCHES, this.#val.windowsPerEpoch));
  }
}
