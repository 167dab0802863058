/**
 * File helpers shared by prepro, checkpoints and logs: atomic writes (temp name + rename, so a crash never
 * leaves a half-written file under the final name) and reads that turn OS errors into one-line UserErrors.
 *
 * @module
 */
import { UserError } from "./errors.ts";
import { directoryOf } from "./paths.ts";

/**
 * Writes `data` to `path` atomically: first to `path.tmp-<pid>-<random>`, then renames over `path`.
 *
 * @param path Final file name.
 * @param data Bytes, or a list of byte chunks written in order.
 * @example
 * ```ts
 * import { writeFileAtomic } from "./fs.ts";
 * const p = await Deno.makeTempFile();
 * await writeFileAtomic(p, new Uint8Array([1, 2, 3]));
 * if ((await Deno.readFile(p)).length !== 3) throw new Error("not written");
 * ```
 */
export async function writeFileAtomic(path: string, data: Uint8Array | Uint8Array[]): Promise<void> {
  const chunks = data instanceof Uint8Array ? [data] : data;
  const { tmp, file: opened } = await openTempFor(path);
  try {
    using file = opened;
    for (const chunk of chunks) {
      let written = 0;
      while (written < chunk.length) written += await file.write(chunk.subarray(written));
    }
    await file.sync();
  } catch (err) {
    await Deno.remove(tmp).catch(() => {});
    throw new UserError(`${path}: cannot write (${errorText(err)})`);
  }
  try {
    await Deno.rename(tmp, path);
  } catch (err) {
    await Deno.remove(tmp).catch(() => {});
    throw new UserError(`${path}: cannot write (${errorText(err)})`);
  }
}

/**
 * Opens a new temporary file beside `path` (its directory created if missing), to be renamed to `path` once
 * complete: how every file here is written.
 *
 * @param path The final name.
 * @returns The temporary name and the open file (the caller closes, renames or removes it).
 * @throws UserError naming `path` when the directory or the file cannot be created.
 */
export async function openTempFor(path: string): Promise<{ tmp: string; file: Deno.FsFile }> {
  const dir = directoryOf(path);
  try {
    await Deno.mkdir(dir, { recursive: true });
  } catch (err) {
    throw new UserError(`${path}: cannot create directory ${dir} (${errorText(err)})`);
  }
  const tmp = `${path}.tmp-${Deno.pid}-${Math.random().toString(36).slice(2, 8)}`;
  try {
    return { tmp, file: await Deno.open(tmp, { write: true, create: true, truncate: true }) };
  } catch (err) {
    throw new UserError(`${path}: cannot write (${errorText(err)})`);
  }
}

/**
 * Reads a whole file, turning "not found" and permission errors into a UserError naming the file.
 *
 * @param path File to read.
 * @param what Short description used in the message, e.g. "token file".
 * @returns The file's bytes.
 * @example
 * ```ts
 * import { readFileOrFail } from "./fs.ts";
 * try { await readFileOrFail("/no/such/file.bin", "token file"); } catch (e) { console.log((e as Error).message); }
 * ```
 */
export async function readFileOrFail(path: string, what = "file"): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (err) {
    throw new UserError(`${path}: cannot read ${what} (${errorText(err)})`);
  }
}

/** The short text of an OS or JS error, e.g. "No such file or directory". */
export function errorText(err: unknown): string {
  if (err instanceof Deno.errors.NotFound) return "no such file or directory";
  if (err instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (err instanceof Deno.errors.IsADirectory) return "is a directory";
  if (err instanceof Deno.errors.NotADirectory) return "not a directory";
  const msg = err instanceof Error ? err.message : String(err);
  // Deno's OS errors read "Not a directory (os error 20): mkdir 'a/b'"; keep only the reason.
  return msg.split("\n")[0].replace(/\s*\(os error \d+\).*$/, "").replace(/:\s*os error \d+.*$/, "");
}
