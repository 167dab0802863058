/**
 * Typed command-line flags on top of Node's built-in `parseArgs` (`node:util`): each command declares its flags
 * once (name, short letter, kind, default, help) and gets back a typed object, a generated `--help` text, and
 * UsageErrors (exit 2) for unknown flags or values of the wrong kind.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { UsageError } from "./errors.ts";

/** One flag. `kind` decides how the value is parsed; `default` is shown in `--help`. */
export interface FlagSpec {
  /** Long name without dashes, e.g. "val-fraction". */
  name: string;
  /** Optional one-letter alias, e.g. "b". */
  short?: string;
  /** "string", "int", "float" or "bool". */
  kind: "string" | "int" | "float" | "bool";
  /** Default value (undefined: the flag is optional and has no default). */
  default?: string | number | boolean;
  /** One line of help. */
  help: string;
}

/** A command's flags and positional arguments, for parsing and `--help`. */
export interface CommandSpec {
  /** e.g. "gpt2 prepro". */
  usage: string;
  /** One paragraph describing the command. */
  description: string;
  /** The flags. `--help`/`-h` is added automatically. */
  flags: FlagSpec[];
}

/** Parsed flags: values keyed by long name, plus positionals and whether help was asked for. */
export interface ParsedFlags {
  values: Record<string, string | number | boolean | undefined>;
  positionals: string[];
  help: boolean;
}

/**
 * Parses `argv` against `spec`. Unknown flags, missing values and non-numeric numbers throw UsageError.
 *
 * @param argv Arguments after the subcommand name.
 * @param spec The command's flags.
 * @returns Typed values (defaults filled in) and positionals.
 * @example
 * ```ts
 * import { parseFlags } from "./flags.ts";
 * const spec = { usage: "x", description: "", flags: [{ name: "batch", short: "b", kind: "int" as const, default: 4, help: "" }] };
 * const f = parseFlags(["-b", "8", "file.txt"], spec);
 * if (f.values.batch !== 8 || f.positionals[0] !== "file.txt") throw new Error("parse failed");
 * ```
 */
export function parseFlags(argv: string[], spec: CommandSpec): ParsedFlags {
  const options: Record<string, { type: "string" | "boolean"; short?: string }> = {
    help: { type: "boolean", short: "h" },
  };
  for (const f of spec.flags) {
    options[f.name] = { type: f.kind === "bool" ? "boolean" : "string", ...(f.short ? { short: f.short } : {}) };
  }
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    const msg = (err as Error).message.split("\n")[0].replace(/\. To specify a positional.*$/, "").replace(/\.$/, "");
    throw new UsageError(`${msg}; see '${spec.usage.split(" ").slice(0, 2).join(" ")} --help'`);
  }
  const values: ParsedFlags["values"] = {};
  for (const f of spec.flags) {
    const raw = (parsed.values as Record<string, string | boolean | undefined>)[f.name];
    if (raw === undefined) {
      values[f.name] = f.default;
      continue;
    }
    values[f.name] = convert(f, raw);
  }
  return { values, positionals: parsed.positionals, help: Boolean(parsed.values.help) };
}

function convert(f: FlagSpec, raw: string | boolean): string | number | boolean {
  if (f.kind === "bool" || typeof raw === "boolean") return raw;
  const label = f.short ? `-${f.short}/--${f.name}` : `--${f.name}`;
  if (f.kind === "int") {
    if (!/^[+-]?\d+$/.test(raw.trim())) throw new UsageError(`${label}: '${raw}' is not an integer`);
    return Number.parseInt(raw, 10);
  }
  if (f.kind === "float") {
    const n = Number(raw);
    if (raw.trim() === "" || !Number.isFinite(n)) throw new UsageError(`${label}: '${raw}' is not a number`);
    return n;
  }
  return raw;
}

/**
 * The `--help` text: usage line, description, and every flag with its default.
 *
 * @param spec The command's flags.
 * @returns Text ready to print.
 * @example
 * ```ts
 * import { helpText } from "./flags.ts";
 * const text = helpText({ usage: "gpt2 x", description: "Does x.", flags: [{ name: "n", kind: "int", default: 3, help: "count" }] });
 * if (!text.includes("(default: 3)")) throw new Error("default missing");
 * ```
 */
export function helpText(spec: CommandSpec): string {
  const rows = spec.flags.map((f) => {
    const names = (f.short ? `-${f.short}, ` : "    ") + `--${f.name}` + (f.kind === "bool" ? "" : ` <${f.kind}>`);
    const def = f.default === undefined ? "" : ` (default: ${f.default})`;
    return [names, f.help + def] as const;
  });
  rows.push(["-h, --help", "show this help"]);
  const width = Math.max(...rows.map(([n]) => n.length)) + 2;
  return [
    `Usage: ${spec.usage}`,
    "",
    spec.description,
    "",
    "Options:",
    ...rows.map(([n, h]) => `  ${n.padEnd(width)}${h}`),
  ].join("\n");
}

/** Throws a UsageError unless `value` is an integer ≥ `min`. `label` names the flag, e.g. "-b". */
export function requireInt(label: string, value: unknown, min: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min) {
    throw new UsageError(`${label}: must be an integer >= ${min}, got ${value}`);
  }
  return value;
}
