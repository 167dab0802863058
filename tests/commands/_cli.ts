/**
 * Runs `cli.ts` as a child process, and checks for the one-line errors the CLI promises.
 *
 * @module
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const CLI = fileURLToPath(new URL("../../cli.ts", import.meta.url));

/** What a `gpt2 ...` run printed and returned. */
export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `deno run -A cli.ts ...args` in this process's working directory. */
export function gpt2(...args: string[]): Promise<Run> {
  return gpt2At(Deno.cwd(), ...args);
}

/** Runs `deno run -A cli.ts ...args` in the working directory `cwd`. */
export async function gpt2At(cwd: string, ...args: string[]): Promise<Run> {
  const out = await new Deno.Command(Deno.execPath(), { args: ["run", "-A", "--quiet", CLI, ...args], cwd }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

/** Asserts exit `code` and exactly one stderr line that contains every needle, with no stack trace. */
export function assertOneLineError(r: Run, code: number, ...needles: (string | RegExp)[]): string {
  assert.equal(r.code, code, `exit ${r.code}\n${r.stdout}\n${r.stderr}`);
  const lines = r.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, `expected one stderr line, got:\n${r.stderr}`);
  assert.ok(!r.stderr.includes("    at "), "stack trace printed");
  for (const needle of needles) {
    if (typeof needle === "string") assert.ok(lines[0].includes(needle), `'${needle}' missing from: ${lines[0]}`);
    else assert.match(lines[0], needle);
  }
  return lines[0];
}

/** Parses every stdout line as JSON (failing on any line that is not), returning the objects. */
export function jsonLines(stdout: string): Record<string, unknown>[] {
  const lines = stdout.split("\n");
  assert.equal(lines.pop(), "", "stdout does not end with a newline");
  return lines.map((line) => {
    try {
      return JSON.parse(line);
    } catch {
      throw new assert.AssertionError({ message: `stdout line is not JSON: ${JSON.stringify(line)}` });
    }
  });
}

/** Absolute path of a file under tests/testdata/. */
export function testdata(...parts: string[]): string {
  return fileURLToPath(new URL(`../testdata/${parts.join("/")}`, import.meta.url));
}
