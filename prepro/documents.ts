/**
 * llm.c's document rule for a plain text, without any file access (the browser page tokenizes a dropped file with
 * it, as `gpt2 prepro text` does): sections split on blank lines, each preceded by EOT, and the val split taken from
 * the start.
 *
 * @module
 */
import { GPT2_EOT } from "../model/config.ts";
import { encode } from "./tokenizer.ts";

/**
 * Tokenizes a text with llm.c's document rule (see the module doc). Sections are encoded one at a time.
 *
 * @param text The whole text.
 * @returns EOT + section tokens, for every section.
 * @example
 * ```ts
 * import { tokenizeDocuments } from "./documents.ts";
 * console.log(tokenizeDocuments("Hi\n\nBye")); // [50256, 17250, 628, 50256, 3886, 68]  (628 is "\n\n")
 * ```
 */
export function tokenizeDocuments(text: string): number[] {
  const sections = text.split("\n\n");
  const tokens: number[] = [];
  for (let i = 0; i < sections.length; i++) {
    tokens.push(GPT2_EOT);
    const ids = encode(i < sections.length - 1 ? sections[i] + "\n\n" : sections[i]);
    for (let j = 0; j < ids.length; j++) tokens.push(ids[j]);
  }
  return tokens;
}

/**
 * How many leading tokens of `n` form the val split for `valFraction` (`gpt2 prepro text --val-fraction`).
 *
 * @param n All tokens.
 * @param valFraction In (0, 1).
 * @returns ⌊n · valFraction⌋.
 */
export function valTokenCount(n: number, valFraction: number): number {
  return Math.floor(n * valFraction);
}
