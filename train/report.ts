/**
 * Progress output of a training run: human-readable lines on stdout (or JSON lines with `--json`), every event
 * also appended to `OUT/log.jsonl`, and `OUT/loss.svg` drawn from the logged losses at the end (and
 * `OUT/hellaswag.svg` from the HellaSwag accuracies, where the run measured them).
 *
 * @module
 */
import { join } from "node:path";
import { UserError } from "../util/errors.ts";
import { errorText, writeFileAtomic } from "../util/fs.ts";
import { lineChartSvg } from "./plot.ts";

/** One logged event; `type` says which. */
export type RunEvent =
  | { type: "start"; [key: string]: unknown }
  | {
    type: "step";
    step: number;
    steps: number;
    loss: number;
    lr: number;
    norm: number;
    ms: number;
    tokensPerSecond: number;
    etaSeconds: number;
    /** With dynamic loss scaling: the scale after this step, and whether this step overflowed and was skipped. */
    lossScale?: number;
    skipped?: boolean;
    /** Steps skipped so far. */
    skippedSteps?: number;
  }
  | { type: "val"; step: number; valLoss: number }
  | { type: "sample"; step: number; text: string }
  | { type: "checkpoint"; step: number; model: string; state: string }
  | { type: "info"; message: string }
  | { type: "warning"; message: string }
  | { type: "end"; step: number; [key: string]: unknown };

/**
 * Writes events to the terminal (warnings to stderr, the rest to stdout) and to `log.jsonl`, one whole line each:
 * a line that cannot be written completely (disk full) is cut back off the file, so the log always parses.
 */
export class RunReport {
  readonly #json: boolean;
  #logFile?: Deno.FsFile;
  readonly #logPath?: string;
  readonly #outDir?: string;
  readonly #previous: RunEvent[] = [];
  readonly #train: [number, number][] = [];
  readonly #val: [number, number][] = [];
  /** (step, acc_norm) of the HellaSwag evaluations (`train --hellaswag-every`), for `hellaswag.svg`. */
  readonly #hellaswag: [number, number][] = [];
  readonly #encoder = new TextEncoder();
  #logBytes = 0;
  /** Lines emitted before `begin`. */
  #pending: string[] = [];

  /**
   * @param options `json`: JSON lines on stdout; `outDir`: an existing directory for `log.jsonl` and `loss.svg`
   * (none: terminal only); `append`: keep an existing log (resume), cutting off a half-written last line.
   */
  constructor(options: { json: boolean; outDir?: string; append?: boolean }) {
    this.#json = options.json;
    this.#outDir = options.outDir;
    if (!options.outDir) return;
    this.#logPath = join(options.outDir, "log.jsonl");
    if (!options.append) return;
    let text = "";
    try {
      text = new TextDecoder().decode(Deno.readFileSync(this.#logPath));
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) {
        throw new UserError(`${this.#logPath}: cannot read the run log (${errorText(err)})`);
      }
    }
    const whole = text.slice(0, text.lastIndexOf("\n") + 1);
    for (const line of whole.split("\n")) {
      try {
        if (line) this.#previous.push(JSON.parse(line));
      } catch { /* a line of another tool or version: not part of the history */ }
    }
    this.#logBytes = this.#encoder.encode(whole).length;
  }

  /**
   * Opens `log.jsonl` for this run: from here on events are written to it, starting with those emitted before. Until
   * then the file is not touched, so a run refused before it starts (a resume into another model's directory, a run
   * already complete) leaves an earlier run's log as it was.
   */
  begin(): void {
    if (!this.#logPath || this.#logFile) return;
    try {
      this.#logFile = Deno.openSync(this.#logPath, { create: true, read: true, write: true });
      this.#logFile.truncateSync(this.#logBytes); // a resume cuts a half-written last line off; a new run starts empty
      this.#logFile.seekSync(this.#logBytes, Deno.SeekMode.Start);
    } catch (err) {
      this.#logFile?.close();
      this.#logFile = undefined;
      throw new UserError(`${this.#logPath}: cannot write the run log (${errorText(err)})`);
    }
    const pending = this.#pending.join("");
    this.#pending = [];
    this.#appendToLog(pending);
  }

  /** Records and prints one event. */
  emit(event: RunEvent): void {
    if (event.type === "step") this.#train.push([event.step, event.loss]);
    if (event.type === "val") this.#val.push([event.step, event.valLoss]);
    const accuracy = hellaswagPoint(event);
    if (accuracy) this.#hellaswag.push(accuracy);
    const line = JSON.stringify(event);
    this.#appendToLog(line + "\n");
    if (event.type === "warning") console.error(this.#json ? line : event.message);
    else if (this.#json) console.log(line);
    else console.log(formatEvent(event));
  }

  /**
   * Takes the losses an earlier part of the run logged up to `step` into the plot (a resume from `step`: what the
   * log holds after that step was redone or lost).
   */
  resumeAt(step: number): void {
    const train = this.#previous.filter((e) => e.type === "step" && e.step <= step) as { step: number; loss: number }[];
    const val = this.#previous.filter((e) => e.type === "val" && e.step < step) as { step: number; valLoss: number }[];
    this.#train.unshift(...train.map((e) => [e.step, e.loss] as [number, number]));
    this.#val.unshift(...val.map((e) => [e.step, e.valLoss] as [number, number]));
    const accuracy = this.#previous.map(hellaswagPoint).filter((p): p is [number, number] => !!p && p[0] < step);
    this.#hellaswag.unshift(...accuracy);
  }

  /** Writes `loss.svg` and closes the log. */
  async close(): Promise<void> {
    this.#logFile?.close();
    // Nothing to draw (a run that failed before its first step): an earlier run's plot stays as it is.
    if (!this.#outDir || this.#train.length + this.#val.length === 0) return;
    const svg = lineChartSvg("GPT-2 training loss", [
      { label: "train", color: "#1f77b4", points: this.#train },
      { label: "val", color: "#d62728", points: this.#val, markers: true },
    ]);
    await writeFileAtomic(join(this.#outDir, "loss.svg"), this.#encoder.encode(svg));
    if (this.#hellaswag.length === 0) return;
    const accuracy = lineChartSvg("HellaSwag (completion style)", [
      { label: "acc_norm", color: "#2ca02c", points: this.#hellaswag, markers: true },
    ], { yLabel: "accuracy" });
    await writeFileAtomic(join(this.#outDir, "hellaswag.svg"), this.#encoder.encode(accuracy));
  }

  #appendToLog(text: string): void {
    if (!this.#logFile) {
      if (this.#logPath) this.#pending.push(text);
      return;
    }
    const bytes = this.#encoder.encode(text);
    try {
      for (let written = 0; written < bytes.length;) written += this.#logFile.writeSync(bytes.subarray(written));
      this.#logBytes += bytes.length;
    } catch (err) {
      try {
        this.#logFile.truncateSync(this.#logBytes);
        this.#logFile.seekSync(this.#logBytes, Deno.SeekMode.Start);
      } catch { /* the file keeps what it has; the error below stops the run */ }
      throw new UserError(`${this.#logPath}: cannot write the run log (${errorText(err)})`);
    }
  }
}

/** (step, acc_norm) of an info event that carries a HellaSwag result (`hellaswagEvent`), else undefined. */
function hellaswagPoint(e: RunEvent): [number, number] | undefined {
  const r = e as { type: string; step?: unknown; hellaswag?: { accNorm?: unknown } };
  if (r.type !== "info" || typeof r.step !== "number" || typeof r.hellaswag?.accNorm !== "number") return undefined;
  return [r.step, r.hellaswag.accNorm];
}

/** The terminal line of an event. */
export function formatEvent(e: RunEvent): string {
  switch (e.type) {
    case "step":
      return `step ${e.step}/${e.steps} | loss ${e.loss.toFixed(6)} | lr ${e.lr.toExponential(2)} | ` +
        `norm ${e.norm.toFixed(4)} | ${e.ms.toFixed(1)} ms | ${Math.round(e.tokensPerSecond)} tok/s | ` +
        `ETA ${formatDuration(e.etaSeconds)}` + (e.lossScale === undefined ? "" : lossScaleText(e));
    case "val":
      return `val loss ${e.valLoss.toFixed(6)} (step ${e.step})`;
    case "sample":
      return `---\n${e.text}\n---`;
    case "checkpoint":
      return `saved ${e.model} and ${e.state}`;
    case "info":
    case "warning":
      return e.message;
    case "start": {
      const { type: _type, ...rest } = e;
      return "start: " + Object.entries(rest).map(([k, v]) => `${k} ${v}`).join(", ");
    }
    case "end": {
      const loss = (label: string, x: unknown) =>
        typeof x === "number" && Number.isFinite(x) ? `, ${label} ${x.toFixed(6)}` : "";
      return `end: step ${e.step}/${e.steps} (${e.reason}) after ${formatDuration(Number(e.seconds))}` +
        loss("loss", e.lastLoss) + loss("val loss", e.lastValLoss);
    }
  }
}

/** "1h02m", "3m05s", "42s". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "?";
  const s = Math.round(seconds);
  if (s >= 3600) return `${Math.floor(s / 3600)}h${String(Math.floor(s % 3600 / 60)).padStart(2, "0")}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${s}s`;
}

/** The step line's loss-scale part: the scale, and the skip (an overflow) with the count so far. */
function lossScaleText(e: { lossScale?: number; skipped?: boolean; skippedSteps?: number }): string {
  const skipped = e.skippedSteps ? ` (${e.skippedSteps} skipped)` : "";
  return ` | loss scale 2^${Math.log2(e.lossScale!)}${e.skipped ? ": overflow, step skipped" : ""}${skipped}`;
}
