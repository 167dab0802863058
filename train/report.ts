/**
 * Progress output of a training run: human-readable lines on stdout (or JSON lines with `--json`), every event
 * also appended to `OUT/log.jsonl`, and `OUT/loss.svg` drawn from the logged losses at the end.
 *
 * @module
 */
import { join } from "node:path";
import { writeFileAtomic } from "../util/fs.ts";
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
  }
  | { type: "val"; step: number; valLoss: number }
  | { type: "sample"; step: number; text: string }
  | { type: "checkpoint"; step: number; model: string; state: string }
  | { type: "info"; message: string }
  | { type: "end"; step: number; [key: string]: unknown };

/** Writes events to the terminal and to `log.jsonl`. */
export class RunReport {
  readonly #json: boolean;
  readonly #logFile?: Deno.FsFile;
  readonly #outDir?: string;
  readonly #train: [number, number][] = [];
  readonly #val: [number, number][] = [];
  readonly #encoder = new TextEncoder();

  /**
   * @param options `json`: JSON lines on stdout; `outDir`: where `log.jsonl` and `loss.svg` go (none: terminal only);
   * `append`: keep an existing log (resume).
   */
  constructor(options: { json: boolean; outDir?: string; append?: boolean }) {
    this.#json = options.json;
    this.#outDir = options.outDir;
    if (options.outDir) {
      Deno.mkdirSync(options.outDir, { recursive: true });
      this.#logFile = Deno.openSync(join(options.outDir, "log.jsonl"), {
        create: true,
        write: true,
        append: options.append ?? false,
        truncate: !options.append,
      });
    }
  }

  /** Records and prints one event. */
  emit(event: RunEvent): void {
    if (event.type === "step") this.#train.push([event.step, event.loss]);
    if (event.type === "val") this.#val.push([event.step, event.valLoss]);
    const line = JSON.stringify(event);
    this.#logFile?.writeSync(this.#encoder.encode(line + "\n"));
    if (this.#json) console.log(line);
    else console.log(formatEvent(event));
  }

  /** Losses logged before a resume, read back from an existing `log.jsonl` (so the plot covers the whole run). */
  preload(events: RunEvent[]): void {
    for (const e of events) {
      if (e.type === "step") this.#train.push([e.step, e.loss]);
      if (e.type === "val") this.#val.push([e.step, e.valLoss]);
    }
  }

  /** Writes `loss.svg` and closes the log. */
  async close(): Promise<void> {
    this.#logFile?.close();
    if (!this.#outDir) return;
    const svg = lineChartSvg("GPT-2 training loss", [
      { label: "train", color: "#1f77b4", points: this.#train },
      { label: "val", color: "#d62728", points: this.#val },
    ]);
    await writeFileAtomic(join(this.#outDir, "loss.svg"), this.#encoder.encode(svg));
  }
}

/** The terminal line of an event. */
export function formatEvent(e: RunEvent): string {
  switch (e.type) {
    case "step":
      return `step ${e.step}/${e.steps} | loss ${e.loss.toFixed(6)} | lr ${e.lr.toExponential(2)} | ` +
        `norm ${e.norm.toFixed(4)} | ${e.ms.toFixed(1)} ms | ${Math.round(e.tokensPerSecond)} tok/s | ` +
        `ETA ${formatDuration(e.etaSeconds)}`;
    case "val":
      return `val loss ${e.valLoss.toFixed(6)} (step ${e.step})`;
    case "sample":
      return `---\n${e.text}\n---`;
    case "checkpoint":
      return `saved ${e.model} and ${e.state}`;
    case "info":
      return e.message;
    case "start":
    case "end": {
      const { type: _type, ...rest } = e;
      return `${e.type}: ` + Object.entries(rest).map(([k, v]) => `${k} ${v}`).join(", ");
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
