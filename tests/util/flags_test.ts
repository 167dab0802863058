import assert from "node:assert/strict";
import { UsageError } from "../../util/errors.ts";
import { type CommandSpec, parseFlags } from "../../util/flags.ts";

const SPEC: CommandSpec = {
  usage: "gpt2 x [options] <file>",
  description: "A test command.",
  flags: [
    { name: "batch", short: "b", kind: "int", default: 4, help: "" },
    { name: "max-steps", short: "x", kind: "int", default: 10, help: "" },
    { name: "lr", short: "l", kind: "float", default: 3e-4, help: "" },
    { name: "seed", kind: "int", default: 42, help: "" },
    { name: "out", short: "o", kind: "string", default: "out", help: "" },
    { name: "json", kind: "bool", default: false, help: "" },
  ],
};

/** Asserts that parsing `argv` throws one UsageError line containing `message`. */
function assertUsage(argv: string[], message: string): void {
  assert.throws(() => parseFlags(argv, SPEC), (e: unknown) => {
    assert.ok(e instanceof UsageError, String(e));
    assert.equal(e.exitCode, 2);
    assert.ok(!e.message.includes("\n"), `more than one line: ${e.message}`);
    assert.ok(e.message.includes(message), e.message);
    return true;
  });
}

const NEGATIVE: [string[], string, number][] = [
  [["-b", "-3"], "batch", -3],
  [["--batch", "-3"], "batch", -3],
  [["--seed", "-1"], "seed", -1],
  [["--seed=-1"], "seed", -1],
  [["-x=-1"], "max-steps", -1],
  [["-x", "-1"], "max-steps", -1],
  [["-b-3"], "batch", -3],
  [["-l", "-1e-3"], "lr", -1e-3],
  [["-l", "-.5"], "lr", -0.5],
  [["-l=-2.5E+2"], "lr", -250],
];

for (const [argv, name, want] of NEGATIVE) {
  Deno.test(`parseFlags ${argv.join(" ")}: ${name} = ${want}`, () => {
    const f = parseFlags(argv, SPEC);
    assert.equal(f.values[name], want);
    assert.deepEqual(f.positionals, []);
  });
}

Deno.test("parseFlags: -o=VALUE is -o VALUE, not '=VALUE'", () => {
  assert.equal(parseFlags(["-o=dir"], SPEC).values.out, "dir");
  assert.equal(parseFlags(["-o", "dir"], SPEC).values.out, "dir");
});

Deno.test("parseFlags: defaults fill flags that were not given", () => {
  const f = parseFlags([], SPEC);
  assert.deepEqual(f.values, { batch: 4, "max-steps": 10, lr: 3e-4, seed: 42, out: "out", json: false });
  assert.equal(f.help, false);
});

Deno.test("parseFlags: -b -x 3 says -b is missing its value", () => {
  assertUsage(["-b", "-x", "3"], "-b/--batch: needs a value, got the flag '-x'");
});

Deno.test("parseFlags: a value flag at the end says it needs a value", () => {
  assertUsage(["-b"], "-b/--batch: needs a value");
  assertUsage(["--seed"], "--seed: needs a value");
});

Deno.test("parseFlags: a string value starting with '-' says how to write it", () => {
  assertUsage(
    ["-o", "-weird"],
    "-o/--out: needs a value, got '-weird' (a value starting with '-' is written --out=-weird)",
  );
  assert.equal(parseFlags(["--out=-weird"], SPEC).values.out, "-weird");
});

Deno.test("parseFlags: a number-like value of an int flag must still be an integer", () => {
  assertUsage(["-b", "-1e-3"], "-b/--batch: '-1e-3' is not an integer");
  assertUsage(["-b", "-1.5"], "-b/--batch: '-1.5' is not an integer");
  assertUsage(["--seed", "99999999999999999999"], "--seed: 99999999999999999999 is too large for an integer");
});

Deno.test("parseFlags: unknown flags are one line pointing at --help", () => {
  assertUsage(["--bogus"], "Unknown option '--bogus'; see 'gpt2 x --help'");
  assertUsage(["-z", "3"], "Unknown option '-z'");
  assertUsage(["--json=1"], "--json");
});

Deno.test("parseFlags: positionals after flags", () => {
  const f = parseFlags(["-b", "8", "--json", "file.txt", "-l", "-2"], SPEC);
  assert.equal(f.values.batch, 8);
  assert.equal(f.values.json, true);
  assert.equal(f.values.lr, -2);
  assert.deepEqual(f.positionals, ["file.txt"]);
});

Deno.test("parseFlags: -- stops option parsing", () => {
  const f = parseFlags(["-b", "2", "--", "-b", "-3", "--seed=-1", "-x=-1"], SPEC);
  assert.equal(f.values.batch, 2);
  assert.equal(f.values.seed, 42);
  assert.deepEqual(f.positionals, ["-b", "-3", "--seed=-1", "-x=-1"]);
  assertUsage(["-b", "--"], "-b/--batch: needs a value");
});

Deno.test("parseFlags: -h and --help ask for help", () => {
  assert.equal(parseFlags(["-h"], SPEC).help, true);
  assert.equal(parseFlags(["-b", "-3", "--help"], SPEC).help, true);
});
