/**
 * The PyTorch parity fixtures in tests/testdata/<name>/ (made by make_fixtures.py): model.bin (v3), model_bf16.bin
 * (v5), state.bin (debug state), expected.json (`loss`, `losses`).
 *
 * @module
 */
import { fileURLToPath } from "node:url";

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
