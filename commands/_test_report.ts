/**
 * What `gpt2 test` prints: aligned text lines, or with `--json` one JSON object per line (`check`, `step`, then
 * `end`) and nothing else on stdout. Also reads the `--losses` file.
 *
 * @module
 */
import { UserError } from "../util/errors.ts";
import { readFileOrFail } from "../util/fs.ts";

/**
 * One line of `--json` output. `maxAbsDiff` is null for NaN (JSON has no NaN), which fails; the loss check also
 * carries this run's `value` and the `expected` one.
 */
export type TestEvent =
  | {
    type: "check";
    name: string;
    maxAbsDiff: number | null;
    tolerance: number;
    ok: boolean;
    value?: number;
    expected?: number;
  }
  | { type: "step"; step: number; loss: number }
  | { type: "end"; ok: boolean; failures: string[]; model: string; state: string; device: string };

/** Collects the checks of one `gpt2 test` run and prints them as text or JSON lines. */
export class TestReport {
  readonly #json: boolean;
  readonly #failures: string[] = [];

  /** @param json Print JSON lines instead of text. */
  constructor(json: boolean) {
    this.#json = json;
  }

  /** A line of context (model, state, device): text output only; JSON has them in the `end` event. */
  info(line: string): void {
    if (!this.#json) console.log(line);
  }

  /**
   * Records one comparison; it passes when `diff <= tolerance` (NaN fails).
   *
   * @param name e.g. "logits", "grad wte".
   * @param diff Max abs difference.
   * @param tolerance Largest allowed difference.
   * @param value For the loss: this run's value and the expected one, shown in the text line.
   */
  check(name: string, diff: number, tolerance: number, value?: { got: number; expected: number }): void {
    const ok = diff <= tolerance;
    if (!ok) this.#failures.push(`${name} differs by ${diff.toExponential(3)} (tolerance ${tolerance})`);
    if (this.#json) {
      const maxAbsDiff = Number.isFinite(diff) ? diff : null;
      this.#emit({
        type: "check",
        name,
        maxAbsDiff,
        tolerance,
        ok,
        ...(value ? { value: value.got, expected: value.expected } : {}),
      });
      return;
    }
    const detail = value ? `${value.got.toFixed(6)} (expected ${value.expected.toFixed(6)}) ` : "";
    const verdict = ok ? "OK" : `FAIL (> ${tolerance})`;
    console.log(`${name.padEnd(14)} ${detail}max abs diff ${diff.toExponential(3)}  ${verdict}`);
  }

  /** One training step's loss. */
  step(step: number, loss: number): void {
    if (this.#json) this.#emit({ type: "step", step, loss });
    else console.log(`step ${step}: loss ${loss.toFixed(6)}`);
  }

  /**
   * Prints the verdict: the FAILED lines or `okText` (text), or the `end` event (JSON).
   *
   * @param okText The text line printed when every check passed.
   * @param context Model, state and device, for the `end` event.
   * @returns Whether every check passed.
   */
  finish(okText: string, context: { model: string; state: string; device: string }): boolean {
    const ok = this.#failures.length === 0;
    if (this.#json) this.#emit({ type: "end", ok, failures: [...this.#failures], ...context });
    else if (ok) console.log(okText);
    else for (const f of this.#failures) console.log(`FAILED: ${f}`);
    return ok;
  }

  #emit(event: TestEvent): void {
    console.log(JSON.stringify(event));
  }
}

/**
 * Reads `--losses`: a JSON object whose `losses` is an array of `steps` numbers (llm.c's `expected.json` has more).
 *
 * @param path The file.
 * @param steps How many losses it must hold.
 * @returns The losses.
 * @throws UserError, one line naming the file, for a missing file, bad JSON or a missing/short `losses`.
 */
export async function readExpectedLosses(path: string, steps: number): Promise<number[]> {
  const text = new TextDecoder().decode(await readFileOrFail(path, "expected losses"));
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    // V8 quotes the offending text, newlines included: keep the message on one line, and short.
    let why = (err as Error).message.replace(/\s+/g, " ").trim();
    if (why.length > 100) why = why.slice(0, 99) + "…";
    throw new UserError(`${path}: not valid JSON (${why}); --losses needs {"losses": [${steps} numbers]}`);
  }
  const losses = (json as { losses?: unknown } | null)?.losses;
  if (!Array.isArray(losses) || losses.length !== steps || !losses.every((x) => typeof x === "number")) {
    const got = !Array.isArray(losses)
      ? `no "losses" array`
      : `"losses" has ${losses.length} entr${losses.length === 1 ? "y" : "ies"}` +
        (losses.every((x) => typeof x === "number") ? "" : ", not all numbers");
    throw new UserError(`${path}: ${got}; --losses needs {"losses": [${steps} numbers]}, one per step`);
  }
  return losses;
}
