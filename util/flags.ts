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
 * A value may follow its flag as the next argument (`-b 8`, `--batch 8`) or after `=` (`--batch=8`, `-b=8`). An
 * int or float flag takes a following negative number as its value (`-x -1`, `--lr -1e-3`); any other argument
 * that starts with `-` is a flag, so a string value starting with `-` must be written `--name=-value`. Everything
 * after `--` is positional.
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
 * if (parseFlags(["-b", "-3"], spec).values.batch !== -3) throw new Error("negative value not taken");
 * ```
 */
export function parseFlags(argv: string[], spec: CommandSpec): ParsedFlags {
  const options: Record<string, { type: "string" | "boolean"; short?: string }> = {
    help: { type: "boolean", short: "h" },
  };
  for (const f of spec.flags) {
    options[f.name] = { type: f.kind === "bool" ? "boolean" : "string", ...(f.short ? { short: f.short } : {}) };
  }
  const seeHelp = `see '${spec.usage.split(" ").slice(0, 2).join(" ")} --help'`;
  let parsed;
  try {
    parsed = parseArgs({ args: normalize(argv, spec, seeHelp), options, allowPositionals: true, strict: true });
  } catch (err) {
    if (err instanceof UsageError) throw err;
    const msg = (err as Error).message.split("\n")[0].replace(/\. To specify a positional.*$/, "").replace(/\.$/, "");
    throw new UsageError(`${msg}; ${seeHelp}`);
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

/** A negative number as a value: `-3`, `-1`, `-1e-3`, `-.5`, `-2.`. */
const NEGATIVE_NUMBER = /^-(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?$/i;

/**
 * Rewrites every flag that takes a value into `--name=value`, so that parseArgs never has to guess: `-b -3` and
 * `-x=-1` become `--batch=-3` and `--max-steps=-1`. Unknown flags, booleans and short-flag groups (`-b8`) pass
 * through unchanged for parseArgs to take or reject; a flag whose value is missing throws here.
 */
function normalize(argv: string[], spec: CommandSpec, seeHelp: string): string[] {
  const byLong = new Map(spec.flags.map((f) => [f.name, f]));
  const byShort = new Map(spec.flags.filter((f) => f.short).map((f) => [f.short!, f]));
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--") {
      out.push(...argv.slice(i));
      break;
    }
    let flag: FlagSpec | undefined, inline: string | undefined;
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      flag = byLong.get(eq < 0 ? arg.slice(2) : arg.slice(2, eq));
      if (eq >= 0) inline = arg.slice(eq + 1);
    } else if (arg.length > 1 && arg[0] === "-") {
      flag = byShort.get(arg[1]);
      if (arg.length > 2) {
        if (arg[2] !== "=") flag = undefined; // `-b8` or a group of short flags: parseArgs' rules
        else inline = arg.slice(3);
      }
    }
    if (flag === undefined || flag.kind === "bool") {
      out.push(arg);
      continue;
    }
    if (inline === undefined) {
      const label = flag.short ? `-${flag.short}/--${flag.name}` : `--${flag.name}`;
      const next = argv[i + 1];
      if (next === undefined) throw new UsageError(`${label}: needs a value; ${seeHelp}`);
      const numeric = flag.kind === "int" || flag.kind === "float";
      if (next.length > 1 && next[0] === "-" && !(numeric && NEGATIVE_NUMBER.test(next))) {
        throw new UsageError(
          numeric
            ? `${label}: needs a value, got the flag '${next}'; ${seeHelp}`
            : `${label}: needs a value, got '${next}' (a value starting with '-' is written --${flag.name}=${next})`,
        );
      }
      inline = next;
      i++;
    }
    out.push(`--${flag.name}=${inline}`);
  }
  return out;
}

function convert(f: FlagSpec, raw: string | boolean): string | number | boolean {
  if (f.kind === "bool" || typeof raw === "boolean") return raw;
  const label = f.short ? `-${f.short}/--${f.name}` : `--${f.name}`;
  if (f.kind === "int") {
    if (!/^[+-]?\d+$/.test(raw.trim())) throw new UsageError(`${label}: '${raw}' is not an integer`);
    const n = Number.parseInt(raw, 10);
    if (!Number.isSafeInteger(n)) throw new UsageError(`${label}: ${raw.trim()} is too large for an integer`);
    return n;
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

/**
 * Throws a UsageError unless `value` is an integer ≥ `min`.
 *
 * @param label Names the flag in the message, e.g. "-b".
 * @param value The parsed value.
 * @param min The smallest value allowed.
 * @returns `value`, typed as a number.
 * @example
 * ```ts
 * import { requireInt } from "./flags.ts";
 * if (requireInt("-b", 4, 1) !== 4) throw new Error("4 is fine");
 * try {
 *   requireInt("-b", -3, 1);
 *   throw new Error("not rejected");
 * } catch (e) {
 *   if ((e as Error).message !== "-b: must be an integer >= 1, got -3") throw e;
 * }
 * ```
 */
export function requireInt(label: string, value: unknown, min: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min) {
    throw new UsageError(`${label}: must be an integer >= ${min}, got ${value}`);
  }
  return value;
}

/** Bounds for `requireNumber`; each is optional. */
export interface NumberRange {
  /** Smallest value allowed (or, with `minExclusive`, the bound values must exceed). */
  min?: number;
  /** Largest value allowed. */
  max?: number;
  /** `min` itself is not allowed. */
  minExclusive?: boolean;
}

/**
 * Throws a UsageError unless `value` is a finite number within `range`; the message states the range.
 *
 * @param label Names the flag in the message, e.g. "-q".
 * @param value The parsed value.
 * @param range Bounds, e.g. `{ min: 0, max: 1 }` or `{ min: 0, minExclusive: true }`.
 * @returns `value`, typed as a number.
 * @example
 * ```ts
 * import { requireNumber } from "./flags.ts";
 * if (requireNumber("-q", 0.5, { min: 0, max: 1 }) !== 0.5) throw new Error("0.5 is in [0, 1]");
 * try {
 *   requireNumber("-l", 0, { min: 0, minExclusive: true });
 *   throw new Error("not rejected");
 * } catch (e) {
 *   if ((e as Error).message !== "-l: must be a number > 0, got 0") throw e;
 * }
 * ```
 */
export function requireNumber(label: string, value: unknown, range: NumberRange): number {
  const { min, max, minExclusive = false } = range;
  const ok = typeof value === "number" && Number.isFinite(value) &&
    (min === undefined || (minExclusive ? value > min : value >= min)) && (max === undefined || value <= max);
  if (ok) return value as number;
  const want = min !== undefined && max !== undefined
    ? `in ${minExclusive ? "(" : "["}${min}, ${max}]`
    : min !== undefined
    ? `${minExclusive ? ">" : ">="} ${min}`
    : max !== undefined
    ? `<= ${max}`
    : "finite";
  throw new UsageError(`${label}: must be a number ${want}, got ${value}`);
}

/**
 * Parses the arguments of a command that takes flags only: prints the help and returns undefined for `--help`;
 * refuses a positional argument with a usage error.
 *
 * @param argv Arguments after the command name.
 * @param spec The command's flags.
 * @param command Its name, for the message.
 * @returns The flags, or undefined when the help was printed.
 * @example
 * ```ts
 * import { parseFlagsOnly } from "./flags.ts";
 * const spec = { usage: "x", description: "", flags: [{ name: "n", kind: "int" as const, default: 1, help: "" }] };
 * if (parseFlagsOnly(["--n", "3"], spec, "x")?.values.n !== 3) throw new Error("parsed");
 * ```
 */
export function parseFlagsOnly(argv: string[], spec: CommandSpec, command: string): ParsedFlags | undefined {
  const f = parseFlags(argv, spec);
  if (f.help) {
    console.log(helpText(spec));
    return undefined;
  }
  if (f.positionals.length) {
    throw new UsageError(`unexpected argument '${f.positionals[0]}'; see 'gpt2 ${command} --help'`);
  }
  return f;
}
