/**
 * The PyTorch parity fixtures in tests/testdata/<name>/ (made by make_fixtures.py): model.bin (v3), model_bf16.bin
 * (v5), state.bin (debug state), expected.json (`loss`, `losses`).
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import type { GPT2Config } from "../../model/config.ts";
import type { DebugState } from "../../model/debug_state.ts";
import type { GPT2 } from "../../model/gpt2.ts";
import { LOSS_TOLERANCE, maxAbsDiff, maxAbsDiffPadded, TENSOR_TOLERANCE } from "../../model/parity.ts";
import { PARAMETER_NAMES, type ParameterName } from "../../model/tensors.ts";

/** The fixture configs: GPT-2's vocab padding, awkward sizes (NH=3, C=30, T=7, V=97), and tile-covering sizes. */
export const FIXTURES = ["gpt2vocab", "awkward", "small"] as const;

/** Absolute path of a file of a fixture. */
export function fixturePath(name: string, file: string): string {
  return fileURLToPath(new URL(`../testdata/${name}/${file}`, import.meta.url));
}

/** The fixture's expected.json. */
export async function readExpected(name: string): Promise<{ loss: number; losses: number[]; B: number; T: number }> {
  return JSON.parse(await Deno.readTextFile(fixturePath(name, "expected.json")));
}

/** Throws unless `diff <= tolerance` (NaN fails). */
export function assertWithin(diff: number, tolerance: number, label: string): void {
  if (!(diff <= tolerance)) throw new Error(`${label}: max abs diff ${diff} > ${tolerance}`);
}

/**
 * Checks the first step of a parity run (after forward and backward on the state's batch): the logits (unpadded to
 * V; `logits` read with `model.readLogits()` between forward and backward, which overwrites them), the loss and all
 * 16 gradients against the debug state, within model/parity.ts's tolerances. Appends a summary to `report` and
 * returns the gradients for further checks.
 */
export async function checkFirstStep<F, I>(
  model: GPT2<F, I>,
  cfg: GPT2Config,
  state: DebugState,
  logits: Float32Array,
  expectedLoss: number,
  report: string[],
): Promise<Record<ParameterName, Float32Array>> {
  const d = maxAbsDiffPadded(logits, state.logits, { V: cfg.vocabSize, Vp: cfg.paddedVocabSize });
  assertWithin(d, TENSOR_TOLERANCE, "logits");
  report.push(`logits ${d.toExponential(1)}`);
  const lossDiff = Math.abs((await model.meanLoss()) - expectedLoss);
  assertWithin(lossDiff, LOSS_TOLERANCE, "loss");
  report.push(`loss ${lossDiff.toExponential(1)}`);
  const grads = await model.readGradients();
  let worst = 0;
  for (const p of PARAMETER_NAMES) {
    const gd = maxAbsDiff(grads[p], state.grads[p]);
    assertWithin(gd, TENSOR_TOLERANCE, `grad ${p}`);
    worst = Math.max(worst, gd);
  }
  report.push(`grads ${worst.toExponential(1)}`);
  return grads;
}
