/**
 * Errors a user can act on. The CLI prints `message` as one line (no stack trace) and exits with `exitCode`:
 * 1 for bad input files and runtime failures, 2 for bad flags (the convention of getopt-style tools).
 *
 * @module
 */

/** An error caused by the user's input (a file, a flag, a dataset name); printed without a stack trace. */
export class UserError extends Error {
  /** Process exit code the CLI uses for this error. */
  readonly exitCode: number;
  /**
   * @param message One sentence naming the file or flag and the problem, starting with a capital letter.
   * @param exitCode 1 for bad files or runtime problems (default), 2 for bad command-line usage.
   * @example
   * ```ts
   * import { UserError } from "./errors.ts";
   * const e = new UserError("data/x.bin: bad magic number 7, expected 20240520");
   * if (e.exitCode !== 1) throw new Error("default exit code is 1");
   * ```
   */
  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = "UserError";
    this.exitCode = exitCode;
  }
}

/** A bad command-line flag or value: exit code 2. */
export class UsageError extends UserError {
  /** @param message What is wrong with the command line and how to see the help. */
  constructor(message: string) {
    super(message, 2);
    this.name = "UsageError";
  }
}
