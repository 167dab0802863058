/**
 * `gpt2 prepro`: tokenize a dataset into llm.c token shards (`*_val.bin`, `*_train.bin`) and write
 * `gpt2_tokenizer.bin` beside them.
 *
 * @module
 */
import type { Command } from "./_command.ts";
import { type CommandSpec, helpText, parseFlags } from "../util/flags.ts";
import { UsageError, UserError } from "../util/errors.ts";
import { preproTinyShakespeare, TINYSHAKESPEARE_URL } from "../prepro/tinyshakespeare.ts";
import { type PreproResult, preproText } from "../prepro/text.ts";
import { type DatasetResult, preproTinyStories, TINYSTORIES_URL } from "../prepro/tinystories.ts";
import { FINEWEB_SHARD_SIZE, preproFineWeb } from "../prepro/fineweb.ts";
import { formatPreproHellaswag, HELLASWAG_VAL_URL, preproHellaswag } from "../prepro/hellaswag.ts";

const DATASETS: Record<string, string> = {
  tinyshakespeare: "Tiny Shakespeare, byte-identical to llm.c's dev/data/tinyshakespeare.py",
  text: "any UTF-8 text file: prepro text FILE",
  tinystories: "TinyStories (Hugging Face archive) as llm.c's dev/data/tinystories.py makes it for GPT-2",
  fineweb: "FineWeb / FineWeb-Edu Parquet or JSON Lines files, as llm.c's dev/data/fineweb.py",
  hellaswag: "HellaSwag val -> llm.c's eval file hellaswag_val.bin (for gpt2 eval), as dev/data/hellaswag.py",
};

const SPEC: CommandSpec = {
  usage: "gpt2 prepro <dataset> [FILE] [options]",
  description: [
    "Tokenizes a dataset with GPT-2's BPE into llm.c token files (magic 20240520): <name>_val.bin and",
    "<name>_train.bin, plus gpt2_tokenizer.bin. Each document (for text files: each section between blank lines)",
    "is preceded by <|endoftext|>.",
    "",
    "Datasets:",
    ...Object.entries(DATASETS).map(([name, text]) => `  ${name.padEnd(17)}${text}`),
    "",
    "Examples:",
    "  gpt2 prepro tinyshakespeare                      (downloads input.txt, see below)",
    "  gpt2 prepro tinyshakespeare --from input.txt     (a local copy, or a URL)",
    "  gpt2 prepro text notes.txt --val-fraction 0.05   (writes data/notes/notes_{val,train}.bin)",
    "  gpt2 prepro tinystories --from TinyStories_all_data.tar.gz   (or a directory of its data*.json)",
    "  gpt2 prepro fineweb --from 'fineweb/sample/10BT/*.parquet' --shard-size 100000000",
    "  gpt2 prepro hellaswag --from hellaswag_val.jsonl   (writes data/hellaswag/hellaswag_val.bin)",
    "",
    "tinystories writes TinyStories_val.bin (the first *.json shard) and TinyStories_train.bin (the others), each",
    "shard shuffled as random.Random(1337 + i).shuffle does and every story str.strip()ped, as llm.c does.",
    "fineweb reads the text column of Parquet files (or the text field of .jsonl / .jsonl.gz lines); files,",
    "directories and patterns may be given with --from and as arguments; fineweb_val_000000.bin is the first",
    "shard, then fineweb_train_000001.bin...; a document that crosses a shard boundary continues in the next.",
    "Both tokenize on --workers Workers and draw a progress line on stderr when it is a terminal.",
    "",
    `Tiny Shakespeare comes from ${TINYSHAKESPEARE_URL}`,
    `TinyStories comes from ${TINYSTORIES_URL}`,
    `HellaSwag comes from ${HELLASWAG_VAL_URL}`,
  ].join("\n"),
  flags: [
    {
      name: "from",
      kind: "string",
      help: "input: input.txt, TinyStories' .tar.gz or *.json directory, or hellaswag_val.jsonl (path or URL; " +
        "default: download), or FineWeb files (a file, directory or pattern)",
    },
    {
      name: "out",
      short: "o",
      kind: "string",
      help: "output directory (default: data/<dataset>/, or data/<FILE stem>/ for text)",
    },
    {
      name: "shard-size",
      kind: "int",
      default: FINEWEB_SHARD_SIZE,
      help: "fineweb: tokens per shard",
    },
    {
      name: "workers",
      kind: "int",
      help: "tinystories, fineweb: tokenizing Workers (default: one per CPU core)",
    },
    {
      name: "val-fraction",
      kind: "float",
      default: 0.1,
      help: "text: fraction of the tokens, from the start, for val",
    },
    { name: "json", kind: "bool", help: "print one JSON object instead of text" },
  ],
};

/** The `prepro` subcommand. */
export const prepro: Command = {
  name: "prepro",
  summary: "tokenize a dataset into llm.c token files",
  async run(argv: string[]): Promise<number> {
    const flags = parseFlags(argv, SPEC);
    if (flags.help) {
      console.log(helpText(SPEC));
      return 0;
    }
    const [dataset, ...rest] = flags.positionals;
    const from = flags.values.from as string | undefined;
    const outDir = flags.values.out as string | undefined;
    let result: PreproResult | DatasetResult;
    const workers = flags.values.workers as number | undefined;
    if (workers !== undefined && !(Number.isInteger(workers) && workers >= 1)) {
      throw new UsageError(`--workers must be at least 1, got ${workers}`);
    }
    if (dataset === undefined) {
      throw new UsageError(`Missing dataset; one of: ${Object.keys(DATASETS).join(", ")} (see 'gpt2 prepro --help')`);
    } else if (dataset === "tinyshakespeare") {
      if (rest.length > 0) throw new UsageError(`Unexpected argument '${rest[0]}'; pass a local copy with --from`);
      result = await preproTinyShakespeare({ from, outDir });
    } else if (dataset === "text") {
      if (rest.length !== 1) throw new UsageError("The text dataset takes one FILE (a path or URL)");
      if (from !== undefined) {
        throw new UsageError("--from is for tinyshakespeare; give the file as 'prepro text FILE'");
      }
      result = await preproText(rest[0], { valFraction: flags.values["val-fraction"] as number, outDir });
    } else if (dataset === "tinystories") {
      if (rest.length > 0) throw new UsageError(`Unexpected argument '${rest[0]}'; pass the archive with --from`);
      result = await preproTinyStories({ from, outDir, workers });
    } else if (dataset === "hellaswag") {
      if (rest.length > 0) throw new UsageError(`Unexpected argument '${rest[0]}'; pass a local copy with --from`);
      const r = await preproHellaswag({ from, outDir });
      console.log(flags.values.json ? JSON.stringify(r) : formatPreproHellaswag(r));
      return 0;
    } else if (dataset === "fineweb") {
      const inputs = [...(from === undefined ? [] : [from]), ...rest];
      if (inputs.length === 0) {
        throw new UsageError("The fineweb dataset needs its files: --from FILE|DIR|PATTERN, or FILEs as arguments");
      }
      result = await preproFineWeb(inputs, { outDir, workers, shardSize: flags.values["shard-size"] as number });
    } else {
      throw new UserError(`Unknown dataset '${dataset}'; known datasets: ${Object.keys(DATASETS).join(", ")}`);
    }
    console.log(
      flags.values.json ? JSON.stringify(result) : "shards" in result ? datasetReport(result) : report(result),
    );
    return 0;
  },
};

function report(r: PreproResult): string {
  const n = (x: number) => x.toLocaleString("en-US");
  const rows = [r.val, r.train, r.tokenizer];
  const width = Math.max(...rows.map((f) => f.path.length)) + 2;
  return [
    `${r.dataset}: ${n(r.tokens)} tokens from ${r.source} (${n(r.bytes)} bytes, sha256 ${r.sha256.slice(0, 12)}…) ` +
    `in ${r.seconds.toFixed(2)} s`,
    `  ${r.val.path.padEnd(width)}${n(r.val.tokens).padStart(9)} tokens (val)`,
    `  ${r.train.path.padEnd(width)}${n(r.train.tokens).padStart(9)} tokens (train)`,
    `  ${r.tokenizer.path.padEnd(width)}${n(r.tokenizer.tokens).padStart(9)} token vocabulary (llm.c tokenizer)`,
  ].join("\n");
}

function datasetReport(r: DatasetResult): string {
  const n = (x: number) => x.toLocaleString("en-US");
  const source = r.sources.length === 1 ? r.sources[0] : `${r.sources.length} files`;
  const width = Math.max(...[...r.shards, r.tokenizer].map((f) => f.path.length)) + 2;
  const tokensWidth = Math.max(9, ...r.shards.map((f) => n(f.tokens).length));
  const rate = r.seconds > 0 ? `, ${n(Math.round(r.tokens / r.seconds))} tokens/s` : "";
  return [
    `${r.dataset}: ${n(r.tokens)} tokens, ${n(r.documents)} documents from ${source} (${n(r.bytes)} bytes) ` +
    `in ${r.seconds.toFixed(2)} s on ${r.workers} worker${r.workers === 1 ? "" : "s"}${rate}`,
    ...r.shards.map((f) => `  ${f.path.padEnd(width)}${n(f.tokens).padStart(tokensWidth)} tokens (${f.split})`),
    `  ${r.tokenizer.path.padEnd(width)}${
      n(r.tokenizer.tokens).padStart(tokensWidth)
    } token vocabulary (llm.c tokenizer)`,
  ].join("\n");
}
