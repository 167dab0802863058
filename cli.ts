/**
 * `gpt2`: the command-line entry point. Dispatches to the subcommands in `commands/`; turns UserErrors into one
 * line on stderr and their exit code (1 for bad input, 2 for bad flags), never a stack trace.
 *
 * @module
 */
import type { Command } from "./commands/_command.ts";
import { UserError } from "./util/errors.ts";
import { prepro } from "./commands/prepro.ts";
import { convert } from "./commands/convert.ts";
import { test } from "./commands/test.ts";
import { trainCommand } from "./commands/train.ts";
import { demoCommand } from "./commands/demo.ts";
import { generateCommand } from "./commands/generate.ts";
import { serveCommand } from "./commands/serve.ts";
import { evalCommand } from "./commands/eval.ts";
import { inWorker } from "./cpu/worker.ts";

const COMMANDS: Command[] = [
  prepro,
  trainCommand,
  generateCommand,
  evalCommand,
  test,
  convert,
  demoCommand,
  serveCommand,
];

function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length)) + 2;
  return [
    "gpt2: train and run GPT-2 in TypeScript (WebGPU or CPU), interoperable with llm.c.",
    "",
    "Usage: gpt2 <command> [options]     (gpt2 <command> --help for its flags)",
    "",
    "Commands:",
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
  ].join("\n");
}

/**
 * Runs the CLI with `argv` and returns the exit code.
 *
 * @param argv Command-line arguments (without the program name).
 * @returns Exit code.
 */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    console.log(mainHelp());
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    console.error(`gpt2: unknown command '${name}'; commands: ${COMMANDS.map((c) => c.name).join(", ")}`);
    return 2;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    if (err instanceof UserError) {
      console.error(`gpt2 ${name}: ${err.message}`);
      return err.exitCode;
    }
    throw err;
  }
}

// In the bundle, the CPU kernel Workers run this same file, and `import.meta.main` is true in a Worker's entry module
// too: the CLI runs on the main thread only.
if (import.meta.main && !inWorker()) {
  Deno.exit(await main(Deno.args));
}
