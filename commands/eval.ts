/**
 * `gpt2 eval hellaswag`: a model's HellaSwag accuracy on an llm.c eval file (from `gpt2 prepro hellaswag`),
 * completion style as llm.c's `dev/data/hellaswag.py` scores it (see `train/hellaswag.ts`): `acc` from the summed
 * loss of each ending, `acc_norm` from the mean. Progress goes to stderr; the result to stdout, as one JSON object
 * `{"acc", "acc_norm", "n"}` with `--json`.
 *
 * @module
 */
import type { Command } from "./_command.ts";
import { createModel, parseDeviceChoice } from "../model/backends.ts";
import { parseAttentionKind } from "../model/block.ts";
import { loadParameters, resolveModelSource } from "../model/source.ts";
import { HELLASWAG_VAL_FILE } from "../prepro/hellaswag.ts";
import {
  checkExamplesFit,
  evalSequenceLength,
  evaluateHellaswag,
  type HellaswagProgress,
  readHellaswagFile,
} from "../train/hellaswag.ts";
import { formatDuration } from "../train/report.ts";
import { UsageError, UserError } from "../util/errors.ts";
import { type CommandSpec, helpText, parseFlags, requireInt } from "../util/flags.ts";

const EVALS = ["hellaswag"];

const SPEC: CommandSpec = {
  usage: "gpt2 eval hellaswag -e MODEL [options]",
  description: [
    "HellaSwag accuracy of a model, as llm.c's dev/data/hellaswag.py computes it (completion style): each ending",
    "after its context, scored by the cross-entropy of the ending's tokens. acc: the smallest summed loss is the",
    "right ending; acc_norm: the smallest mean loss is (llm.c's trainer reports acc_norm).",
    `Make the file with 'gpt2 prepro hellaswag'. Example: gpt2 eval hellaswag -e out/model_00005000.bin`,
  ].join("\n"),
  flags: [
    {
      name: "model",
      short: "e",
      kind: "string",
      help: "checkpoint file, Hugging Face directory, d6|d12|…, or layers=L,heads=H,channels=C,seq=T",
    },
    { name: "data", kind: "string", default: HELLASWAG_VAL_FILE, help: "llm.c eval file (magic 20240522)" },
    { name: "device", kind: "string", default: "auto", help: "auto | gpu | cpu" },
    { name: "batch", short: "b", kind: "int", default: 4, help: "examples per forward pass (4 rows each)" },
    { name: "examples", short: "n", kind: "int", default: 0, help: "evaluate the first N examples (0: all)" },
    { name: "attention", kind: "string", default: "materialized", help: "materialized | flash" },
    { name: "seed", kind: "int", default: 0, help: "seed of a random init (dN or layers=… models)" },
    { name: "json", kind: "bool", default: false, help: 'print {"acc", "acc_norm", "n"} as one JSON line' },
  ],
};

/** The `eval` command. */
export const evalCommand: Command = {
  name: "eval",
  summary: "evaluate a model on HellaSwag (llm.c's eval file, acc and acc_norm)",
  async run(argv) {
    const f = parseFlags(argv, SPEC);
    if (f.help) {
      console.log(helpText(SPEC));
      return 0;
    }
    const [which, ...rest] = f.positionals;
    if (which === undefined) throw new UsageError(`Missing eval; one of: ${EVALS.join(", ")} (see 'gpt2 eval --help')`);
    if (!EVALS.includes(which)) throw new UsageError(`Unknown eval '${which}'; known evals: ${EVALS.join(", ")}`);
    if (rest.length) throw new UsageError(`Unexpected argument '${rest[0]}'; see 'gpt2 eval --help'`);
    const v = f.values;
    const spec = v["model"] as string | undefined;
    if (spec === undefined || spec === "") throw new UsageError("-e: give a model; see 'gpt2 eval --help'");
    const batch = requireInt("-b", v["batch"], 1);
    const cap = requireInt("-n", v["examples"], 0);
    const seed = requireInt("--seed", v["seed"], 0);
    const device = parseDeviceChoice(v["device"] as string);
    const attention = parseAttentionKind(v["attention"] as string);
    const path = v["data"] as string;
    const json = v["json"] === true;

    const source = await resolveModelSource(spec);
    const cfg = source.config;
    const all = await readHellaswagFile(path);
    const examples = cap > 0 ? all.slice(0, cap) : all;
    if (examples.length === 0) throw new UserError(`${path}: holds no examples`);
    const T = evalSequenceLength(checkExamplesFit(examples, cfg, path), cfg);
    const perForward = Math.min(batch, examples.length);
    const B = 4 * perForward;
    const { model, description } = await createModel(cfg, B, T, device, { training: false, attention });
    try {
      await loadParameters(model, source, seed);
      console.error(
        `eval hellaswag: ${examples.length} examples from ${path}, ${perForward} per forward pass (B=${B}, T=${T}), ` +
          description,
      );
      const progress = new Progress();
      const result = await evaluateHellaswag(model, examples, { onProgress: (p) => progress.update(p) });
      progress.finish();
      const pct = (k: number) => `${(k / result.n).toFixed(4)} (${k}/${result.n})`;
      if (json) console.log(JSON.stringify({ acc: result.acc, acc_norm: result.accNorm, n: result.n }));
      else {console.log(
          `hellaswag: ${result.n} examples, acc ${pct(result.correct)}, acc_norm ${pct(result.correctNorm)}`,
        );}
    } finally {
      model.close();
    }
    return 0;
  },
};

/** Progress on stderr: rewritten in place on a terminal, otherwise a line every 5 seconds and one at the end. */
class Progress {
  readonly #start = performance.now();
  readonly #terminal = Deno.stderr.isTerminal();
  #lastLine = -Infinity;
  #last?: HellaswagProgress;

  update(p: HellaswagProgress): void {
    this.#last = p;
    const now = performance.now();
    if (p.done < p.total && now - this.#lastLine < (this.#terminal ? 200 : 5000)) return;
    this.#lastLine = now;
    this.#print(p, now);
  }

  finish(): void {
    if (this.#terminal && this.#last) Deno.stderr.writeSync(new TextEncoder().encode("\n"));
  }

  #print(p: HellaswagProgress, now: number): void {
    const seconds = (now - this.#start) / 1000;
    const rate = p.done / seconds;
    const eta = p.done < p.total ? `, ETA ${formatDuration((p.total - p.done) / rate)}` : "";
    const line = `eval hellaswag: ${p.done}/${p.total} examples, acc_norm ${(p.correctNorm / p.done).toFixed(4)}, ` +
      `${rate.toFixed(1)} examples/s${eta}, ${seconds.toFixed(1)} s`;
    Deno.stderr.writeSync(new TextEncoder().encode(this.#terminal ? `\r\x1b[K${line}` : line + "\n"));
  }
}
