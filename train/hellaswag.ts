/**
 * HellaSwag accuracy the way llm.c's `dev/data/hellaswag.py` computes it ("completion style"): each of an
 * example's 4 rows is its context followed by one ending, and the ending is scored by the cross-entropy of its
 * tokens only, at the positions that predict them (the last context token predicts the ending's first token, and
 * so on). Per ending the loss is summed and averaged over its tokens; `acc` counts the examples whose smallest
 * summed loss is the label's, `accNorm` those whose smallest mean loss is (llm.c's C trainer reports the latter).
 * Ties go to the first ending, as torch's `argmin` and llm.c's C loop do.
 *
 * Several examples share one forward pass: a model of B rows scores ⌊B/4⌋ examples at a time as 4·⌊B/4⌋
 * interleaved sequences of `forwardRows`, padded with token 0 after each row's end (attention is causal, so padding
 * never changes the losses that are read).
 *
 * @module
 */
import { createModel, type DeviceChoice } from "../model/backends.ts";
import type { AttentionKind } from "../model/block.ts";
import type { GPT2Config } from "../model/config.ts";
import type { GPT2 } from "../model/gpt2.ts";
import { PARAMETER_NAMES } from "../model/tensors.ts";
import { type EvalExample, EVALFILE_COMPLETIONS, readEvalFile } from "../prepro/hellaswag.ts";
import { softmaxCrossEntropy } from "../layers/softmax_crossentropy.ts";
import { UserError } from "../util/errors.ts";

/** One example's scores. */
export interface HellaswagExampleScore {
  /** Summed cross-entropy of each ending's tokens (nats), accumulated in float64. */
  sumLoss: number[];
  /** `sumLoss` divided by the ending's token count. */
  meanLoss: number[];
  /** argmin of `sumLoss` (the `acc` prediction). */
  pred: number;
  /** argmin of `meanLoss` (the `acc_norm` prediction). */
  predNorm: number;
  label: number;
}

/** The accuracies over the examples evaluated. */
export interface HellaswagResult {
  /** Examples evaluated. */
  n: number;
  /** Examples where the smallest summed loss is the label's. */
  correct: number;
  /** Examples where the smallest mean loss is the label's. */
  correctNorm: number;
  /** correct / n. */
  acc: number;
  /** correctNorm / n (what llm.c's trainer prints as "HellaSwag"). */
  accNorm: number;
  /** Each example's losses and predictions, in order. */
  examples: HellaswagExampleScore[];
}

/** Progress after each forward pass. */
export interface HellaswagProgress {
  /** Examples evaluated so far. */
  done: number;
  /** Examples to evaluate. */
  total: number;
  /** Correct `acc_norm` predictions so far. */
  correctNorm: number;
}

/**
 * Reads an eval file for HellaSwag; a missing file says how to make one.
 *
 * @param path The file, e.g. `data/hellaswag/hellaswag_val.bin`.
 * @returns Its examples.
 * @throws UserError naming the file: missing, unreadable or not a valid eval file.
 * @example
 * ```ts
 * import { readHellaswagFile } from "./hellaswag.ts";
 * try {
 *   await readHellaswagFile("/no/such/hellaswag_val.bin");
 * } catch (e) {
 *   if (!(e as Error).message.includes("gpt2 prepro hellaswag")) throw e;
 * }
 * ```
 */
export async function readHellaswagFile(path: string): Promise<EvalExample[]> {
  if (!(await Deno.stat(path).then(() => true, (err) => !(err instanceof Deno.errors.NotFound)))) {
    throw new UserError(`${path}: no such eval file; make it with 'gpt2 prepro hellaswag' (or pass another file)`);
  }
  return await readEvalFile(path);
}

/**
 * Positions a row of the example needs: the context and its longest ending, less one (the ending's last token is
 * predicted, never fed).
 *
 * @param example The example.
 * @returns The sequence length the model must hold for it.
 * @example
 * ```ts
 * import { positionsNeeded } from "./hellaswag.ts";
 * if (positionsNeeded({ label: 0, context: [1, 2, 3], endings: [[4], [5, 6], [7], [8]] }) !== 4) throw new Error();
 * ```
 */
export function positionsNeeded(example: EvalExample): number {
  return example.context.length + Math.max(...example.endings.map((e) => e.length)) - 1;
}

/**
 * Checks that a model of shape `cfg` can score every example: a non-empty context, every row within the model's
 * context length, every token in its vocabulary.
 *
 * @param examples From the eval file.
 * @param cfg The model's shape.
 * @param path The eval file, named in the message.
 * @returns The most positions any example needs.
 * @throws UserError naming the file, the example and the problem.
 * @example
 * ```ts
 * import { checkExamplesFit } from "./hellaswag.ts";
 * const cfg = { maxSeqLen: 8, vocabSize: 10, paddedVocabSize: 128, numLayers: 1, numHeads: 1, channels: 4 };
 * if (checkExamplesFit([{ label: 0, context: [1], endings: [[2], [3], [4], [5, 6]] }], cfg, "x.bin") !== 2) throw new Error();
 * ```
 */
export function checkExamplesFit(examples: readonly EvalExample[], cfg: GPT2Config, path: string): number {
  let longest = 0;
  examples.forEach((e, i) => {
    if (e.context.length === 0) {
      throw new UserError(`${path}: example ${i} has an empty context (nothing to predict from)`);
    }
    const need = positionsNeeded(e);
    if (need > cfg.maxSeqLen) {
      throw new UserError(
        `${path}: example ${i} needs ${need} positions (context ${e.context.length} + longest ending ` +
          `${need + 1 - e.context.length}, less 1), longer than the model's context of ${cfg.maxSeqLen}`,
      );
    }
    const bad = [e.context, ...e.endings].flat().find((t) => t >= cfg.vocabSize);
    if (bad !== undefined) {
      throw new UserError(
        `${path}: example ${i} holds token ${bad}, outside the model's vocabulary of ${cfg.vocabSize}`,
      );
    }
    longest = Math.max(longest, need);
  });
  return longest;
}

/**
 * Scores `examples` with `model` (its parameters as they are; any model with B ≥ 4 whose T holds every example),
 * up to ⌊B/4⌋ examples per forward pass. Leaves the model's activations and targets overwritten, nothing else.
 *
 * The 4·k rows of k examples run as 4·k interleaved sequences (`GPT2.forwardRows` with `samples`: each completion
 * is one sample, its row is context + ending without the last token), over as many positions as the longest of
 * them needs: examples are taken in windows of 16·k and grouped by length within a window, so little is padded.
 * The positions before the shortest context's last token run without the vocabulary projection (nothing is scored
 * there); the softmax cross-entropy runs on the rest, and the losses of the ending tokens are summed on the host.
 *
 * @param model Any GPT-2 with B ≥ 4 whose T holds every example (see {@linkcode checkExamplesFit}), built without
 *   rows in flight.
 * @param examples The examples.
 * @param options `onProgress` is called after each forward pass.
 * @returns The accuracies and every example's losses, in the examples' order.
 * @example
 * ```ts
 * import { evaluateHellaswag } from "./hellaswag.ts";
 * import { createCpuModel } from "../model/cpu_model.ts";
 * import { parseModelDescriptor } from "../model/config.ts";
 * const model = await createCpuModel(parseModelDescriptor("layers=1,heads=1,channels=4,seq=4,vocab=10")!, 4, 4);
 * const r = await evaluateHellaswag(model, [{ label: 2, context: [1], endings: [[2], [3], [4], [5, 6]] }]);
 * // zero weights: every token costs ln 10, so the summed loss prefers a one-token ending and the mean loss ties
 * if (r.examples[0].pred !== 0 || r.examples[0].predNorm !== 0 || r.accNorm !== 0) throw new Error(JSON.stringify(r));
 * ```
 */
export async function evaluateHellaswag<F, I>(
  model: GPT2<F, I>,
  examples: readonly EvalExample[],
  options: { onProgress?: (p: HellaswagProgress) => void } = {},
): Promise<HellaswagResult> {
  const K = EVALFILE_COMPLETIONS;
  const perForward = Math.floor(model.B / K);
  if (perForward < 1) throw new RangeError(`evaluateHellaswag needs a model of at least ${K} rows, not ${model.B}`);
  const tooLong = examples.findIndex((e) => positionsNeeded(e) > model.T);
  if (tooLong >= 0) throw new RangeError(`example ${tooLong} needs more positions than the model's T = ${model.T}`);
  const scores: HellaswagExampleScore[] = new Array(examples.length);
  let done = 0, correctNorm = 0;
  const window = 16 * perForward;
  for (let first = 0; first < examples.length; first += window) {
    const order = Array.from({ length: Math.min(window, examples.length - first) }, (_, i) => first + i);
    order.sort((a, b) => positionsNeeded(examples[a]) - positionsNeeded(examples[b]) || a - b);
    for (let g = 0; g < order.length; g += perForward) {
      const group = order.slice(g, g + perForward);
      const losses = await groupLosses(model, group.map((i) => examples[i]));
      group.forEach((i, e) => {
        const example = examples[i];
        const sumLoss = losses[e];
        const meanLoss = sumLoss.map((sum, c) => sum / example.endings[c].length);
        const score = { sumLoss, meanLoss, pred: argmin(sumLoss), predNorm: argmin(meanLoss), label: example.label };
        if (score.predNorm === example.label) correctNorm++;
        scores[i] = score;
      });
      done += group.length;
      options.onProgress?.({ done, total: examples.length, correctNorm });
    }
  }
  const n = scores.length;
  const correct = scores.filter((s) => s.pred === s.label).length;
  return { n, correct, correctNorm, acc: n ? correct / n : NaN, accNorm: n ? correctNorm / n : NaN, examples: scores };
}

/**
 * One forward pass over a group of examples: S = 4·k interleaved samples (sample 4e + c is completion c of example
 * e; row p·S + s holds its position p) over the positions the longest needs. Returns each example's summed ending
 * losses, in float64.
 */
async function groupLosses<F, I>(model: GPT2<F, I>, group: readonly EvalExample[]): Promise<number[][]> {
  const K = EVALFILE_COMPLETIONS;
  const { exec, config } = model;
  const S = K * group.length;
  const P = Math.max(...group.map(positionsNeeded));
  // Positions < P0 predict no ending token of any sample: they run without logits.
  const P0 = Math.min(...group.map((e) => e.context.length - 1));
  const tokens = new Int32Array(S * P), targets = new Int32Array(S * (P - P0));
  group.forEach((e, i) => {
    e.endings.forEach((ending, c) => {
      const s = K * i + c, ctx = e.context.length;
      const row = [...e.context, ...ending.slice(0, -1)]; // the last ending token is predicted, never fed
      row.forEach((token, p) => tokens[p * S + s] = token);
      // Position ctx - 1 + j predicts ending token j.
      ending.forEach((token, j) => {
        if (!(token >= 0 && token < config.vocabSize)) {
          throw new RangeError(`ending token ${token} is not in the vocabulary`);
        }
        targets[(ctx - 1 + j - P0) * S + s] = token;
      });
    });
  });
  if (P0 > 0) model.forwardRows(tokens, { start: 0, count: P0 * S, samples: S }, { logits: false });
  const rows = { start: P0 * S, count: (P - P0) * S };
  model.forwardRows(tokens, { ...rows, samples: S });
  const { acts } = model.tensors;
  const view = (t: F) => exec.view(t, rows.start, rows.count);
  const targetsView = exec.viewInt(model.tensors.targets, rows.start, rows.count);
  exec.writeInt(targetsView, targets);
  exec.run(
    softmaxCrossEntropy.forward,
    {
      losses: view(acts.losses),
      lse: view(acts.lse),
      logits: model.logitsOf(rows.start, rows.count),
      targets: targetsView,
    },
    { N: rows.count, V: config.vocabSize, Vp: config.paddedVocabSize },
  );
  const losses = await exec.read(view(acts.losses)) as Float32Array; // row (p - P0)·S + s: position p of sample s
  return group.map((e, i) =>
    e.endings.map((ending, c) => {
      let sum = 0;
      for (let j = 0; j < ending.length; j++) sum += losses[(e.context.length - 1 + j - P0) * S + K * i + c];
      return sum;
    })
  );
}

/** Index of the smallest value, the first of equal ones. */
function argmin(values: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] < values[best]) best = i;
  return best;
}

/** Options of {@linkcode HellaswagProbe.open}. */
export interface HellaswagProbeOptions {
  /** The backend of the model being trained ("cpu" or "gpu"; the probe builds its own model there). */
  device: DeviceChoice;
  /** Evaluate only the first N examples of the file (default: all). */
  examples?: number;
  /** Examples per forward pass (default 4: 16 rows). */
  batch?: number;
  /** Attention of the probe's model (as the trainer's). */
  attention?: AttentionKind;
}

/**
 * HellaSwag during training (`gpt2 train --hellaswag-every N`): the eval file is read and checked once, and an
 * inference model sized for its examples is built next to the one being trained; each `run` copies the trained
 * model's parameters into it and evaluates. The trained model, its data loader and sampler are never touched, so a
 * run with the probe trains exactly as one without it.
 *
 * @example
 * ```ts
 * import { HellaswagProbe } from "./hellaswag.ts";
 * import { encodeEvalFile } from "../prepro/hellaswag.ts";
 * import { createCpuModel } from "../model/cpu_model.ts";
 * import { parseModelDescriptor } from "../model/config.ts";
 * const cfg = parseModelDescriptor("layers=1,heads=1,channels=4,seq=8,vocab=10")!;
 * const path = await Deno.makeTempFile();
 * await Deno.writeFile(path, encodeEvalFile([{ label: 1, context: [1, 2], endings: [[3], [4], [5], [6]] }]));
 * const probe = await HellaswagProbe.open(path, cfg, { device: "cpu" });
 * const trained = await createCpuModel(cfg, 2, 8);
 * const r = await probe.run(trained);
 * probe.close();
 * if (r.n !== 1 || r.accNorm !== 0) throw new Error("zero weights tie, and a tie picks ending 0");
 * ```
 */
export class HellaswagProbe {
  /** The eval file. */
  readonly path: string;
  /** The examples evaluated by each run. */
  readonly examples: readonly EvalExample[];
  // deno-lint-ignore no-explicit-any
  readonly #model: GPT2<any, any>;

  // deno-lint-ignore no-explicit-any
  private constructor(path: string, examples: readonly EvalExample[], model: GPT2<any, any>) {
    this.path = path;
    this.examples = examples;
    this.#model = model;
  }

  /**
   * Reads and checks the eval file for a model of shape `cfg` and builds the probe's model.
   *
   * @param path The eval file (from `gpt2 prepro hellaswag`).
   * @param cfg The trained model's shape.
   * @param options Backend, example cap, examples per forward pass.
   * @returns The probe; `close` it when done.
   * @throws UserError for an unreadable or bad file, or examples the model cannot hold.
   */
  static async open(path: string, cfg: GPT2Config, options: HellaswagProbeOptions): Promise<HellaswagProbe> {
    const all = await readHellaswagFile(path);
    const examples = all.slice(0, options.examples ?? all.length);
    if (examples.length === 0) throw new UserError(`${path}: holds no examples`);
    const T = evalSequenceLength(checkExamplesFit(examples, cfg, path), cfg);
    const B = EVALFILE_COMPLETIONS * Math.min(options.batch ?? 4, examples.length);
    const plan = { training: false, attention: options.attention, say: () => {} };
    const { model } = await createModel(cfg, B, T, options.device, plan);
    return new HellaswagProbe(path, examples, model);
  }

  /**
   * Evaluates the probe's examples with `trained`'s current parameters.
   *
   * @param trained The model being trained (same shape); only its parameters are read.
   * @returns The accuracies.
   */
  async run<F, I>(trained: GPT2<F, I>): Promise<HellaswagResult> {
    const params = await trained.readParameters();
    for (const name of PARAMETER_NAMES) this.#model.writeParameter(name, params[name]);
    return await evaluateHellaswag(this.#model, this.examples);
  }

  /** Releases the probe's model. */
  close(): void {
    this.#model.close();
  }
}

/** The trainer's HellaSwag event: an `info` line on the terminal, with the accuracies as a field in `log.jsonl`. */
export interface HellaswagEvent {
  type: "info";
  /** The terminal line, e.g. `HellaSwag acc_norm 0.2955 (2968/10042), acc 0.2859 (step 200)`. */
  message: string;
  step: number;
  hellaswag: { accNorm: number; acc: number; n: number };
}

/**
 * The event `gpt2 train --hellaswag-every` logs for a result.
 *
 * @param step The step the model has done (the one it is evaluated after).
 * @param r The accuracies.
 * @returns The event for the run report.
 * @example
 * ```ts
 * import { hellaswagEvent } from "./hellaswag.ts";
 * const e = hellaswagEvent(20, { n: 4, correct: 1, correctNorm: 2, acc: 0.25, accNorm: 0.5, examples: [] });
 * if (e.message !== "HellaSwag acc_norm 0.5000 (2/4), acc 0.2500 (1/4) (step 20)") throw new Error(e.message);
 * ```
 */
export function hellaswagEvent(step: number, r: HellaswagResult): HellaswagEvent {
  const message = `HellaSwag acc_norm ${r.accNorm.toFixed(4)} (${r.correctNorm}/${r.n}), ` +
    `acc ${r.acc.toFixed(4)} (${r.correct}/${r.n}) (step ${step})`;
  return { type: "info", message, step, hellaswag: { accNorm: r.accNorm, acc: r.acc, n: r.n } };
}

/**
 * The sequence length to build an eval model at: the longest example's positions rounded up to a multiple of 16,
 * at most the model's context.
 *
 * @param positions The most positions an example needs.
 * @param cfg The model's shape.
 * @returns T for the eval model.
 * @example
 * ```ts
 * import { evalSequenceLength } from "./hellaswag.ts";
 * const cfg = { maxSeqLen: 40, vocabSize: 10, paddedVocabSize: 128, numLayers: 1, numHeads: 1, channels: 4 };
 * if (evalSequenceLength(17, cfg) !== 32 || evalSequenceLength(33, cfg) !== 40) throw new Error();
 * ```
 */
export function evalSequenceLength(positions: number, cfg: GPT2Config): number {
  return Math.min(cfg.maxSeqLen, Math.ceil(Math.max(1, positions) / 16) * 16);
}
