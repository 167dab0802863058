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

const DATASETS: Record<string, string> = {
  tinyshakespeare: "Tiny Shakespeare, byte-identical to llm.c's dev/data/tinyshakespeare.py",
  text: "any UTF-8 text file: prepro text FILE",
};

const SPEC: CommandSpec = {
  usage: "gpt2 prepro <dataset> [FILE] [options]",
  description: [
    "Tokenizes a dataset with GPT-2's BPE into llm.c token files (magic 20240520): <name>_val.bin and",
    "<name>_train.bin, plus gpt2_tokenizer.bin. Sections are split on blank lines, each preceded by <|endoftext|>.",
    "",
    "Datasets:",
    ...Object.entries(DATASETS).map(([name, text]) => `  ${name.padEnd(17)}${text}`),
    "",
    "Examples:",
    "  gpt2 prepro tinyshakespeare                      (downloads input.txt, see below)",
    "  gpt2 prepro tinyshakespeare --from input.txt     (a local copy, or a URL)",
    "  gpt2 prepro text notes.txt --val-fraction 0.05   (writes data/notes/notes_{val,train}.bin)",
    "",
    `Tiny Shakespeare comes from ${TINYSHAKESPEARE_URL}`,
  ].join("\n"),
  flags: [
    {
      name: "from",
      kind: "string",
      help: "tinyshakespeare: local path or URL of input.txt (default: download it)",
    },
    {
      name: "out",
      short: "o",
      kind: "string",
      help: "output directory (default: data/tinyshakespeare/, or data/<FILE stem>/)",
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
    let result: PreproResult;
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
    } else {
      throw new UserError(`Unknown dataset '${dataset}'; known datasets: ${Object.keys(DATASETS).join(", ")}`);
    }
    console.log(flags.values.json ? JSON.stringify(result) : report(result));
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
