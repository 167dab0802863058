/// <reference lib="dom" />
/**
 * The training page (`gpt2 serve`): trains a GPT-2 in the tab on the served Tiny Shakespeare shards, on WebGPU (or
 * the scalar CPU path without an adapter), with the CLI's step (train/step.ts), data order, initialization and
 * defaults, so `?layers=L&heads=H&channels=C&batch=B&seq=T&steps=S&lr=R&seed=X` trains what
 * `gpt2 train -e layers=L,heads=H,channels=C,seq=T -b B -t T -x S -l R --seed X` trains. Shows the loss chart, step
 * times and samples, and downloads the model as an llm.c checkpoint.
 *
 * The contract for tests and scripts: query parameters `layers, heads, channels, batch, seq, steps, lr, seed` (and
 * `vocab`, GPT-2's 50257 by default, for token files of a smaller vocabulary) fill the form and `autostart=1` starts
 * on load; elements `#train`, `#status` (`idle`, `training`, `done`, or
 * `error: <message>`), `#step`, `#loss`, `#sample`, `#device`, `#download`; `window.trainLog`, one
 * `{ step, loss, ms }` per step (plus `valLoss` where computed). A text file picked in `#textfile` or dropped on the
 * page is tokenized as `gpt2 prepro text` does (`window.textTokens`) and trained on instead.
 *
 * @module
 */
import { encodeCheckpoint, type ParameterTensors } from "../model/checkpoint.ts";
import { parseModelDescriptor } from "../model/config.ts";
import { createCpuModel } from "../model/cpu_model.ts";
import { sampleText } from "../model/decoder.ts";
import type { GPT2 } from "../model/gpt2.ts";
import { createGpuModel } from "../model/gpu_model.ts";
import { randomParameters } from "../model/init.ts";
import { DataLoader } from "../prepro/dataloader.ts";
import { tokenizeDocuments, valTokenCount } from "../prepro/documents.ts";
import { encodeShard } from "../prepro/shard.ts";
import { Xorshift64Star } from "../train/sampler.ts";
import { trainStep } from "../train/step.ts";
import { lineChartSvg } from "../train/plot.ts";

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

/** What `gpt2 train` does by default beyond the form: val loss and a sample every 20 steps. */
const EVERY = 20;
const VAL_BATCHES = 20;
const GEN_TOKENS = 64;
const DATA = "data/tinyshakespeare/tiny_shakespeare";

interface LogEntry {
  step: number;
  loss: number;
  ms: number;
  valLoss?: number;
}

/** A text the user gave the page, tokenized as `gpt2 prepro text` does (val split: its first tenth). */
interface TextData {
  name: string;
  train: number[];
  val: number[];
}

/** The page's log, one entry per step (the contract's `window.trainLog`), and the tokens of a text file it was given. */
const page = globalThis as unknown as { trainLog: LogEntry[]; textTokens?: TextData };
page.trainLog = [];

const $ = <E extends HTMLElement>(id: string) => document.getElementById(id) as E;
const status = (text: string) => $("status").textContent = text;

/** The form's values (query parameters first, then what the user typed). */
function readSettings(): Settings {
  const out = {} as Settings;
  for (const name of Object.keys(FIELDS) as (keyof Settings)[]) {
    const value = Number(($(name) as HTMLInputElement).value);
    if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number`);
    out[name] = value;
  }
  return out;
}

function fillForm(): void {
  const query = new URLSearchParams(location.search);
  for (const [name, value] of Object.entries(FIELDS)) {
    ($(name) as HTMLInputElement).value = query.get(name) ?? String(value);
  }
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
    status(`error: ${(err as Error).message}`);
  }
}

/** The train or val shard: of the user's text when there is one, else the server's Tiny Shakespeare. */
async function fetchShard(split: "train" | "val"): Promise<{ name: string; bytes: Uint8Array }> {
  const text = page.textTokens;
  if (text) return { name: `${text.name} (${split})`, bytes: encodeShard(text[split]) };
  const name = `${DATA}_${split}.bin`;
  const response = await fetch(`/${name}`);
  if (!response.ok) throw new Error(`the server has no ${name} (run gpt2 prepro tinyshakespeare, then gpt2 serve)`);
  return { name, bytes: new Uint8Array(await response.arrayBuffer()) };
}

// deno-lint-ignore no-explicit-any
type Model = GPT2<any, any>;

/** A model on WebGPU when the browser has an adapter, else on the scalar CPU path. */
async function buildModel(s: Settings): Promise<{ model: Model; device: string }> {
  const spec = `layers=${s.layers},heads=${s.heads},channels=${s.channels},seq=${s.seq},vocab=${s.vocab}`;
  const cfg = parseModelDescriptor(spec);
  if (!cfg) throw new Error(`not a model: ${spec}`);
  if (await navigator.gpu?.requestAdapter()) {
    const model = await createGpuModel(cfg, s.batch, s.seq);
    return { model, device: model.exec.description };
  }
  const model = await createCpuModel(cfg, s.batch, s.seq);
  return { model, device: "CPU (no WebGPU adapter in this browser)" };
}

let stopRequested = false;
let trained: Model | undefined;

async function train(): Promise<void> {
  stopRequested = false;
  $<HTMLButtonElement>("train").disabled = true;
  $<HTMLButtonElement>("stop").disabled = false;
  $<HTMLButtonElement>("download").disabled = true;
  trained?.close();
  trained = undefined;
  page.trainLog = [];
  status("training");
  try {
    const s = readSettings();
    const [trainShard, valShard] = await Promise.all([fetchShard("train"), fetchShard("val")]);
    const { model, device } = await buildModel(s);
    trained = model;
    $("device").textContent = device;
    const vocabSize = model.config.vocabSize;
    const loader = DataLoader.fromShards([trainShard], {
      B: s.batch,
      T: s.seq,
      shuffle: true,
      seed: s.seed,
      vocabSize,
    });
    const val = DataLoader.fromShards([valShard], { B: s.batch, T: s.seq, vocabSize });
    for (const [name, data] of randomParameters(model.config, s.seed)) model.writeParameter(name, data);
    const rng = new Xorshift64Star(1337 + s.seed);
    const settings = {
      accumSteps: 1,
      schedule: "cosine" as const,
      learningRate: s.lr,
      warmupSteps: 0,
      finalFraction: 1,
      weightDecay: 0,
      maxSteps: s.steps,
    };
    const started = performance.now();
    for (let step = 0; step < s.steps && !stopRequested; step++) {
      const t0 = performance.now();
      const result = await trainStep(model, () => loader.next(), step, settings);
      const entry: LogEntry = { step: step + 1, loss: result.loss, ms: performance.now() - t0 };
      if (!Number.isFinite(result.loss)) throw new Error(`step ${step + 1}: the loss is ${result.loss}`);
      const last = step + 1 === s.steps;
      if ((step + 1) % EVERY === 0 || last) {
        val.reset();
        let sum = 0;
        const batches = Math.min(VAL_BATCHES, val.windowsPerEpoch);
        for (let i = 0; i < batches; i++) {
          const batch = val.next();
          model.forward(batch.inputs, batch.targets);
          sum += await model.meanLoss();
        }
        entry.valLoss = sum / batches;
        $("sample").textContent = await sampleText(model, Math.min(GEN_TOKENS, s.seq), rng);
      }
      page.trainLog.push(entry);
      show(entry, s, performance.now() - started);
      await new Promise((resolve) => setTimeout(resolve, 0)); // let the page paint and the buttons work
    }
    status("done");
    $<HTMLButtonElement>("download").disabled = false;
  } catch (err) {
    status(`error: ${(err as Error).message}`);
  } finally {
    $<HTMLButtonElement>("train").disabled = false;
    $<HTMLButtonElement>("stop").disabled = true;
  }
}

function show(e: LogEntry, s: Settings, elapsed: number): void {
  const log = page.trainLog;
  const tokens = s.batch * s.seq;
  $("step").textContent = `${e.step}/${s.steps}`;
  $("loss").textContent = e.loss.toFixed(4);
  $("ms").textContent = e.ms.toFixed(0);
  $("toks").textContent = Math.round(tokens / (e.ms / 1000)).toLocaleString("en");
  const eta = (elapsed / e.step) * (s.steps - e.step) / 1000;
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
  if (!trained) return;
  const params = await trained.readParameters() as ParameterTensors;
  const chunks = encodeCheckpoint(trained.config, params) as BlobPart[];
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob(chunks, { type: "application/octet-stream" }));
  a.download = `model_${String(page.trainLog.length).padStart(8, "0")}.bin`;
  a.click();
}

fillForm();
$<HTMLInputElement>("textfile").addEventListener("change", (e) => {
  const file = (e.target as HTMLInputElement).files?.[0];
  if (file) void useText(file);
});
document.body.addEventListener("dragover", (e) => e.preventDefault());
document.body.addEventListener("drop", (e) => {
  e.preventDefault();
  const file = e.dataTransfer?.files[0];
  if (file) void useText(file);
});
$("train").addEventListener("click", () => void train());
$("stop").addEventListener("click", () => stopRequested = true);
$("download").addEventListener("click", () => void download());
status("idle");
if (new URLSearchParams(location.search).get("autostart") === "1") void train();
