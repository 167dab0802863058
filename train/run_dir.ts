/**
 * The output directory of a training run (`-o`), claimed before the model is built so that no run loses,
 * corrupts or overwrites another's work:
 *
 * - the directory is created (or found) and must be writable: otherwise one line naming it, exit 1;
 * - a lock file `train.lock` holds the owner's PID and host; a second run into the same directory stops, and the
 *   lock of a process that no longer runs (killed with `kill -9`, a crash) is taken over with a warning;
 * - temp files `NAME.tmp-PID-xxxxxx` left by killed writes of dead processes are removed;
 * - a directory that holds an earlier run's files (checkpoints or `log.jsonl`) is refused unless the run resumes
 *   it (`-y 1`) or replaces it (`--overwrite`, which deletes those files first).
 *
 * @module
 */
import { join, resolve } from "node:path";
import { UsageError, UserError } from "../util/errors.ts";
import { errorText } from "../util/fs.ts";

/** Name of the lock file inside a run directory. */
export const LOCK_FILE = "train.lock";

/** Files of a run: checkpoints (`model_/state_/DONE_` + 8 digits), the log and the plot. */
const RUN_FILE = /^(?:(?:model|state)_\d{8}\.bin|DONE_\d{8}|log\.jsonl|loss\.svg)$/;
/** A temp file written by `writeFileAtomic` of process PID (group 1). */
const TEMP_FILE = /\.tmp-(\d+)-[a-z0-9]+$/;

/** How a run uses its directory. */
export interface ClaimOptions {
  /** `-y 1`: continue the run found there. */
  resume: boolean;
  /** `--overwrite`: delete an earlier run's files and start afresh. */
  overwrite: boolean;
  /** Receives warnings (stale lock taken over, temp files removed), one line each. */
  warn: (line: string) => void;
}

/** What the lock file says about its owner. */
interface LockOwner {
  pid: number;
  hostname: string;
  started: string;
}

/**
 * A claimed run directory; `release()` (or `using`) removes the lock.
 *
 * @example
 * ```ts
 * import { RunDirectory } from "./run_dir.ts";
 * const dir = await Deno.makeTempDir();
 * const run = await RunDirectory.claim(`${dir}/run`, { resume: false, overwrite: false, warn: console.error });
 * let refused = false;
 * await RunDirectory.claim(`${dir}/run`, { resume: false, overwrite: false, warn: console.error })
 *   .catch(() => refused = true); // this process still holds the lock
 * run.release();
 * if (!refused) throw new Error("a second claim must be refused");
 * ```
 */
export class RunDirectory implements Disposable {
  /** The directory, as given. */
  readonly path: string;
  readonly #lockPath: string;
  #released = false;

  private constructor(path: string) {
    this.path = path;
    this.#lockPath = join(path, LOCK_FILE);
  }

  /**
   * Creates `path` if needed, takes its lock, removes dead processes' temp files, and checks for an earlier run.
   *
   * @param path The `-o` directory.
   * @param options Resume / overwrite, and where warnings go.
   * @returns The claimed directory.
   * @throws UserError (exit 1) when the directory cannot be made or written or another run holds it; UsageError
   *   (exit 2) when it holds an earlier run and neither `-y 1` nor `--overwrite` was given.
   */
  static async claim(path: string, options: ClaimOptions): Promise<RunDirectory> {
    if (options.resume && options.overwrite) {
      throw new UsageError("-y 1 and --overwrite contradict each other: resume the run in -o, or replace it");
    }
    await makeOutputDirectory(path);
    const run = new RunDirectory(path);
    await run.#lock(options.warn);
    try {
      await run.#sweep(options);
    } catch (err) {
      run.release();
      throw err;
    }
    return run;
  }

  /** Removes the lock (once; later calls do nothing). */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    const owner = readLock(this.#lockPath);
    if (owner?.pid === Deno.pid && owner.hostname === Deno.hostname()) {
      try {
        Deno.removeSync(this.#lockPath);
      } catch { /* already gone: nothing to release */ }
    }
  }

  [Symbol.dispose](): void {
    this.release();
  }

  async #lock(warn: (line: string) => void): Promise<void> {
    const me: LockOwner = { pid: Deno.pid, hostname: Deno.hostname(), started: new Date().toISOString() };
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        using file = await Deno.open(this.#lockPath, { write: true, createNew: true });
        await file.write(new TextEncoder().encode(JSON.stringify(me) + "\n"));
        return;
      } catch (err) {
        if (!(err instanceof Deno.errors.AlreadyExists)) {
          throw new UserError(`${this.path}: cannot write in the output directory (${errorText(err)})`);
        }
      }
      const owner = readLock(this.#lockPath);
      if (owner && (owner.hostname !== me.hostname || isRunning(owner.pid))) {
        const where = owner.hostname === me.hostname ? "" : ` on ${owner.hostname}`;
        throw new UserError(
          `${this.path}: another run (PID ${owner.pid}${where}, started ${owner.started}) is writing here; ` +
            `wait for it, use another -o, or delete ${this.#lockPath} if that run is gone`,
        );
      }
      const who = owner ? `PID ${owner.pid}, which is no longer running` : "an unreadable lock";
      warn(`warning: ${this.#lockPath}: taking over the stale lock of ${who}`);
      await Deno.remove(this.#lockPath).catch(() => {});
    }
    throw new UserError(`${this.path}: could not take the lock ${this.#lockPath}; another run keeps taking it`);
  }

  async #sweep(options: ClaimOptions): Promise<void> {
    const runFiles: string[] = [];
    let removed = 0, removedBytes = 0;
    for await (const entry of Deno.readDir(this.path)) {
      if (!entry.isFile) continue;
      const temp = TEMP_FILE.exec(entry.name);
      if (temp && Number(temp[1]) !== Deno.pid && !isRunning(Number(temp[1]))) {
        const file = join(this.path, entry.name);
        const size = await Deno.stat(file).then((s) => s.size, () => 0);
        await Deno.remove(file).then(() => (removed++, removedBytes += size), () => {});
      } else if (RUN_FILE.test(entry.name)) {
        runFiles.push(entry.name);
      }
    }
    if (removed > 0) {
      options.warn(
        `warning: ${this.path}: removed ${removed} temp file${removed === 1 ? "" : "s"} ` +
          `(${formatBytes(removedBytes)}) left by killed runs`,
      );
    }
    if (options.resume || runFiles.length === 0) return;
    if (!options.overwrite) {
      const steps = runFiles.map((n) => /^DONE_(\d{8})$/.exec(n)?.[1]).filter((s) => s !== undefined).map(Number);
      const what = steps.length ? `checkpoints up to step ${Math.max(...steps)}` : `files (${runFiles[0]}…)`;
      throw new UsageError(
        `${this.path}: holds an earlier run's ${what}; resume it with -y 1, replace it with --overwrite, ` +
          `or choose another -o`,
      );
    }
    for (const name of runFiles) await Deno.remove(join(this.path, name));
  }
}

/**
 * Whether `path` names a file inside the run directory `dir` (so that `--overwrite` would delete it).
 *
 * @param dir A run directory.
 * @param path Any path.
 * @returns True when `path` is a run file directly in `dir`.
 */
export function isRunFileIn(dir: string, path: string): boolean {
  const full = resolve(path);
  return resolve(dir) === resolve(full, "..") && RUN_FILE.test(full.slice(full.lastIndexOf("/") + 1));
}

/**
 * Creates the output directory `path` (and its parents) unless it exists.
 *
 * @param path The `-o` directory.
 * @throws UserError naming `path` when it is a file or cannot be created.
 */
export async function makeOutputDirectory(path: string): Promise<void> {
  const info = await Deno.stat(path).catch(() => undefined);
  if (info && !info.isDirectory) throw new UserError(`${path}: exists and is not a directory; choose another -o`);
  if (info) return;
  try {
    await Deno.mkdir(path, { recursive: true });
  } catch (err) {
    throw new UserError(`${path}: cannot create the output directory (${errorText(err)})`);
  }
}

function readLock(path: string): LockOwner | undefined {
  try {
    const owner = JSON.parse(Deno.readTextFileSync(path));
    if (Number.isInteger(owner.pid) && typeof owner.hostname === "string") return owner;
  } catch { /* missing or half-written: no owner */ }
  return undefined;
}

/** Whether process `pid` runs on this machine (`/proc` on Linux; elsewhere a harmless signal probes it). */
export function isRunning(pid: number): boolean {
  if (pid === Deno.pid) return true;
  if (Deno.build.os === "linux") {
    try {
      Deno.statSync(`/proc/${pid}`);
      return true;
    } catch {
      return false;
    }
  }
  try {
    Deno.kill(pid, "SIGCONT");
    return true;
  } catch (err) {
    return !/no such process|ESRCH/i.test(String(err));
  }
}

function formatBytes(n: number): string {
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(1)} GiB`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(1)} MiB`;
  return `${(n / 1024).toFixed(1)} KiB`;
}
