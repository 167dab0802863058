/// <reference lib="dom" />
/**
 * The training page (`gpt2 serve`): trains a GPT-2 in the tab on the served Tiny Shakespeare shards (or a text file
 * the user gives it), on WebGPU, or on the CPU without an adapter (web/run.ts), with the CLI's step, data order,
 * initialization and defaults, so `?layers=L&heads=H&channels=C&batch=B&seq=T&steps=S&lr=R&seed=X` trains what
 * `gpt2 train -e layers=L,heads=H,channels=C,seq=T -b B -t T -x S -l R --seed X` trains. It can start from a
 * checkpoint the user picks (web/model_files.ts), stop between steps and resume, sample with `gpt2 generate`'s
 * settings at any time (web/sampling.ts), and download the model as an llm.c checkpoint.
 *
 * The contract for tests and scripts: query parameters `layers, heads, channels, batch, seq, steps, lr, seed` (and
 * `vocab`, GPT-2's 50257 by default, for token files of a smaller vocabulary) fill the form, `device=cpu` computes
 * on the CPU even where WebGPU exists, `stop=N` pauses after step N (as the Stop button does) and `autostart=1`
 * starts on load. Elements: `#train`, `#stop`, `#resume`, `#download`, `#status` (`idle`, `training`, `stopped`,
 * `done`, or `error: <message>`), `#step`, `#loss`, `#device`, `#checkpoint` (a file input: one llm.c `.bin`, or
 * `model.safetensors` with `config.json`) and `#model` (one line on the model loaded from it), `#temperature`,
 * `#topk`, `#topp`, `#tokens`, `#sample-seed`, `#generate` (the Sample button), `#sample` (the text) and
 * `#sample-note` (how the last sample went, or why it did not run). `window.trainLog`: one `{ step, loss, ms }` per
 * step (plus `valLoss` where computed). A text file picked in `#textfile` or dropped on the page is tokenized as
 * `gpt2 prepro text` does (`window.textTokens`) and trained on instead.
 *
 * @module
 */
import { encodeCheckpoint } from "../model/checkpoint.ts";
import { type GPT2Config, parseModelDescriptor } from "../model/config.ts";
import { tokenizeDocuments, valTokenCount } from "../prepro/documents.ts";
import { encodeShard } from "../prepro/shard.ts";
import { lineChartSvg } from "../train/plot.ts";
import { describePickedModel, type PickedModel, readPickedModel } from "./model_files.ts";
import { type LogEntry, type PageDevice, type PageRun, type RunSettings, TrainingRun } from "./run.ts";
import { parseSampleSettings, SAMPLE_DEFAULTS } from "./sampling.ts";
import { RemoteRun, RUN_WORKER_NAME, serveRunWorker } from "./worker_run.ts";
import { inWorker } from "../cpu/worker.ts";

/** The form's fields, the CLI's defaults for a small Shakespeare model. */
const FIELDS = {
  layers: 4,
  heads: 4,
  channels: 128,
  batch: 8,
  seq: 64,
  steps: 200,
  lr: 1e-3,
  seed: 42,
  vocab: 50257,
} as const;
type Settings = { -readonly [K in keyof typeof FIELDS]: number };
/** The model fields, which a picked checkpoint fills and locks. */
const MODEL_FIELDS = ["layers", "heads", "channels", "vocab"] as const;
const DATA = "data/tinyshakespeare/tiny_shakespeare";

/** A text the user gave the page, tokenized as `gpt2 prepro text` does (val split: its first tenth). */
interface TextData {
  name: string;
  train: number[];
  val: number[];
}

/** The page's log, one entry per step (the contract's `window.trainLog`), and the tokens of a text file it was given. */
const page = globalThis as unknown as { trainLog: LogEntry[]; textTokens?: TextData };
page.trainLog = [];

const query = new URLSearchParams(location.search);
const $ = <E extends HTMLElement>(id: string) => document.getElementById(id) as E;
const input = (id: string) => $<HTMLInputElement>(id);
const button = (id: string) => $<HTMLButtonElement>(id);
const status = (text: string) => $("status").textContent = text;
const failure = (err: unknown) => status(`error: ${err instanceof Error ? err.message : String(err)}`);

/** The checkpoint the user picked, if any: training starts from it and its shape fills the model fields. */
let picked: PickedModel | undefined;
/** The current run: trained, paused or done. */
let run: PageRun | undefined;
let looping = false;
let stopRequested = false;
let stopAt = Number(query.get("stop") ?? 0);
let samplesDrawn = 0;

/** Runs model work one piece at a time: a sample clicked during training runs between two steps. */
let modelQueue: Promise<unknown> = Promise.resolve();
function exclusive<T>(work: () => Promise<T>): Promise<T> {
  const result = modelQueue.then(work);
  modelQueue = result.catch(() => {});
  return result;
}

/** The form's values (query parameters first, then what the user typed). */
function readSettings(): Settings {
  const out = {} as Settings;
  for (const name of Object.keys(FIELDS) as (keyof Settings)[]) {
    const value = Number(input(name).value);
    if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number`);
    out[name] = value;
  }
  return out;
}

function fillForm(): void {
  for (const [name, value] of Object.entries(FIELDS)) input(name).value = query.get(name) ?? String(value);
  input("temperature").value = String(SAMPLE_DEFAULTS.temperature);
  input("topk").value = String(SAMPLE_DEFAULTS.topK);
  input("topp").value = String(SAMPLE_DEFAULTS.topP);
  input("tokens").value = String(SAMPLE_DEFAULTS.tokens);
  input("sample-seed").value = String(SAMPLE_DEFAULTS.seed);
}

/** The shape to train: the picked checkpoint's, else the form's. */
function modelConfig(s: Settings): GPT2Config {
  if (picked) {
    if (s.seq > picked.config.maxSeqLen) {
      throw new Error(`sequence ${s.seq} is longer than the checkpoint's maximum ${picked.config.maxSeqLen}`);
    }
    return picked.config;
  }
  const spec = `layers=${s.layers},heads=${s.heads},channels=${s.channels},seq=${s.seq},vocab=${s.vocab}`;
  const cfg = parseModelDescriptor(spec);
  if (!cfg) throw new Error(`not a model: ${spec}`);
  return cfg;
}

/** Tokenizes a text file picked or dropped by the user; training then uses it instead of the served shards. */
async function useText(file: File): Promise<void> {
  try {
    const tokens = tokenizeDocuments(await file.text());
    const valTokens = valTokenCount(tokens.length, 0.1);
    if (valTokens < 1) throw new Error(`${file.name}: only ${tokens.length} tokens, too few to split off a val part`);
    page.textTokens = { name: file.name, val: tokens.slice(0, valTokens), train: tokens.slice(valTokens) };
    const count = (n: number) => n.toLocaleString("en");
    $("data").textContent = `${file.name}: ${count(tokens.length)} tokens (train ${
      count(tokens.length - valTokens)
    }, val ${count(valTokens)})`;
  } catch (err) {
    failure(err);
  }
}

/** Loads a checkpoint picked in #checkpoint: fills and locks the model fields, says what it is in #model. */
async function useCheckpoint(files: File[]): Promise<void> {
  try {
    status("loading the model");
    picked = await readPickedModel(files);
    const c = picked.config;
    const values = { layers: c.numLayers, heads: c.numHeads, channels: c.channels, vocab: c.vocabSize };
    for (const name of MODEL_FIELDS) {
      input(name).value = String(values[name]);
      input(name).disabled = true;
    }
    if (Number(input("seq").value) > c.maxSeqLen) input("seq").value = String(c.maxSeqLen);
    $("model").textContent = describePickedModel(picked);
    const old = run; // the next sample or training starts from the picked weights
    run = undefined;
    await exclusive(() => Promise.resolve(old?.close()));
    setButtons("idle");
    button("train").textContent = "Fine-tune";
    status("idle");
  } catch (err) {
    picked = undefined;
    for (const name of MODEL_FIELDS) input(name).disabled = false;
    $("model").textContent = "random init (seeded, as gpt2 train)";
    button("train").textContent = "Train";
    failure(err);
  }
}

/** The train and val tokens: of the user's text when there is one, else the server's Tiny Shakespeare. */
async function fetchShards(): Promise<{ name: string; train: Uint8Array; val: Uint8Array }> {
  const text = page.textTokens;
  if (text) return { name: text.name, train: encodeShard(text.train), val: encodeShard(text.val) };
  const fetchOne = async (split: string) => {
    const name = `${DATA}_${split}.bin`;
    const response = await fetch(`/${name}`);
    if (!response.ok) throw new Error(`the server has no ${name} (run gpt2 prepro tinyshakespeare, then gpt2 serve)`);
    return new Uint8Array(await response.arrayBuffer());
  };
  const [train, val] = await Promise.all([fetchOne("train"), fetchOne("val")]);
  return { name: DATA, train, val };
}

function setButtons(state: "busy" | "training" | "stopped" | "idle"): void {
  button("train").disabled = state === "training" || state === "busy";
  button("stop").disabled = state !== "training";
  button("resume").disabled = state !== "stopped";
  button("download").disabled = !run || state === "training" || state === "busy";
  input("checkpoint").disabled = state === "training" || state === "busy";
}

/**
 * A new run: on the page's thread with WebGPU; on the CPU, in a Worker on every core where the page is
 * cross-origin isolated and has more than one (web/worker_run.ts), else here on one thread.
 */
async function startRun(settings: RunSettings, shards: Awaited<ReturnType<typeof fetchShards>>): Promise<PageRun> {
  const gpu = settings.device === "auto" && await navigator.gpu?.requestAdapter();
  if (gpu || !globalThis.crossOriginIsolated || navigator.hardwareConcurrency < 2) {
    return await TrainingRun.create(settings, shards);
  }
  try {
    return await RemoteRun.create(settings, shards);
  } catch (err) {
    console.warn(`the CPU worker failed (${(err as Error).message}); training on this thread`);
    return await TrainingRun.create(settings, shards);
  }
}

/** Replaces the current run by a new one at step 0 from the form (and the picked checkpoint). */
async function newRun(): Promise<PageRun> {
  const s = readSettings();
  const config = modelConfig(s);
  const shards = await fetchShards();
  const old = run;
  run = undefined;
  await exclusive(() => Promise.resolve(old?.close()));
  page.trainLog = [];
  const device: PageDevice = query.get("device") === "cpu" ? "cpu" : "auto";
  const { batch, seq, steps, lr, seed } = s;
  const fresh = await startRun({ config, batch, seq, steps, lr, seed, device, params: picked?.params }, shards);
  $("device").textContent = fresh.device;
  page.trainLog = fresh.log;
  run = fresh;
  return fresh;
}

/** Starts a new run, then trains it. */
async function train(): Promise<void> {
  setButtons("busy");
  stopRequested = false;
  status("training");
  try {
    await newRun();
  } catch (err) {
    failure(err);
    setButtons("idle");
    return;
  }
  await loop();
}

/** Trains the current run's remaining steps until it is done or stopped. */
async function loop(): Promise<void> {
  const r = run;
  if (!r || looping) return;
  looping = true;
  stopRequested = false;
  status("training");
  setButtons("training");
  const started = performance.now() - r.log.reduce((t, e) => t + e.ms, 0);
  try {
    while (!r.finished && !stopRequested) {
      const { entry, sample } = await exclusive(() => r.step());
      if (sample !== undefined) $("sample").textContent = sample;
      show(entry, r, performance.now() - started);
      if (entry.step === stopAt) stopRequested = true;
      await new Promise((resolve) => setTimeout(resolve, 0)); // let the page paint and the buttons work
    }
    status(r.finished ? "done" : "stopped");
    setButtons(r.finished ? "idle" : "stopped");
  } catch (err) {
    failure(err);
    setButtons("idle");
  } finally {
    looping = false;
  }
}

/** Samples with the sampling fields' settings from the current run's model, streaming into #sample. */
async function sample(): Promise<void> {
  const note = $("sample-note");
  let settings;
  try {
    settings = parseSampleSettings({
      temperature: input("temperature").value,
      topK: input("topk").value,
      topP: input("topp").value,
      tokens: input("tokens").value,
      seed: input("sample-seed").value,
    });
  } catch (err) {
    note.textContent = `${(err as Error).message}; nothing was sampled.`;
    return;
  }
  if (!run && !picked) {
    note.textContent = "Train a model or pick a checkpoint first, then sample.";
    return;
  }
  button("generate").disabled = true;
  note.textContent = "sampling…";
  try {
    // A picked checkpoint not trained yet: a run at step 0 holds it (Train starts another).
    const r = run ?? await newRun();
    if (!looping) setButtons(r.stepsDone > 0 && !r.finished ? "stopped" : "idle");
    const seed = settings.seed + samplesDrawn++;
    const out = $("sample");
    out.textContent = "";
    const t0 = performance.now();
    const n = await exclusive(() => r.sample({ ...settings, seed }, (piece) => out.append(piece)));
    const seconds = (performance.now() - t0) / 1000;
    note.textContent = `${n} tokens after step ${r.stepsDone} in ${seconds.toFixed(2)} s (seed ${seed}` +
      `${n < settings.tokens ? `; at most T = ${r.T} tokens` : ""})`;
  } catch (err) {
    note.textContent = `sampling failed: ${(err as Error).message}`;
  } finally {
    button("generate").disabled = false;
  }
}

function show(e: LogEntry, r: PageRun, elapsed: number): void {
  const log = r.log;
  const { batch, seq, steps } = r.settings;
  $("step").textContent = `${e.step}/${steps}`;
  $("loss").textContent = e.loss.toFixed(4);
  $("ms").textContent = e.ms.toFixed(0);
  $("toks").textContent = Math.round(batch * seq / (e.ms / 1000)).toLocaleString("en");
  const eta = (elapsed / e.step) * (steps - e.step) / 1000;
  $("eta").textContent = eta >= 60 ? `${Math.floor(eta / 60)}m ${Math.round(eta % 60)}s` : `${eta.toFixed(0)}s`;
  const val = log.filter((x) => x.valLoss !== undefined).at(-1)?.valLoss;
  $("val").textContent = val === undefined ? "–" : val.toFixed(4);
  // The same chart as the CLI's loss.svg (an SVG: a canvas drawn next to WebGPU work closed headless Chromium's tab).
  $("chart").innerHTML = lineChartSvg("training loss", [
    { label: "train", color: "#1f77b4", points: log.map((x) => [x.step, x.loss]) },
    {
      label: "val",
      color: "#d62728",
      points: log.filter((x) => x.valLoss !== undefined).map((x) => [x.step, x.valLoss!]),
      markers: true,
    },
  ]);
}

async function download(): Promise<void> {
  const r = run;
  if (!r) return;
  const params = await exclusive(() => r.readParameters());
  const chunks = encodeCheckpoint(r.settings.config, params) as BlobPart[];
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob(chunks, { type: "application/octet-stream" }));
  a.download = `model_${String(r.stepsDone).padStart(8, "0")}.bin`;
  a.click();
}

/** Fills the form and wires the buttons (on the main thread; in a Worker the bundle serves a CPU run instead). */
function startPage(): void {
  fillForm();
  input("textfile").addEventListener("change", (e) => {
    const file = (e.target as HTMLInputElement).files?.[0];
    if (file) void useText(file);
  });
  input("checkpoint").addEventListener("change", (e) => {
    const files = [...(e.target as HTMLInputElement).files ?? []];
    if (files.length) void useCheckpoint(files);
  });
  document.body.addEventListener("dragover", (e) => e.preventDefault());
  document.body.addEventListener("drop", (e) => {
    e.preventDefault();
    const file = e.dataTransfer?.files[0];
    if (file) void useText(file);
  });
  button("train").addEventListener("click", () => void train());
  button("stop").addEventListener("click", () => stopRequested = true);
  button("resume").addEventListener("click", () => {
    stopAt = 0;
    void loop();
  });
  button("download").addEventListener("click", () => void download().catch(failure));
  button("generate").addEventListener("click", () => void sample());
  globalThis.addEventListener("unhandledrejection", (e) => failure(e.reason));
  status("idle");
  setButtons("idle");
  if (query.get("autostart") === "1") void train();
}

if (!inWorker()) startPage();
else if ((globalThis as { name?: string }).name === RUN_WORKER_NAME) serveRunWorker();
