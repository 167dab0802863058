/**
 * The shape every subcommand module exports, so `cli.ts` can list, dispatch and document them uniformly.
 *
 * @module
 */

/** A subcommand of `gpt2`. */
export interface Command {
  /** Name typed after `gpt2`, e.g. "prepro". */
  name: string;
  /** One line for `gpt2 --help`. */
  summary: string;
  /**
   * Runs the command.
   * @param argv Arguments after the subcommand name.
   * @returns The process exit code (0 on success).
   */
  run(argv: string[]): Promise<number>;
}
