/**
 * Reading a prepro input from a path or URL, hashing it, and decoding it as text. Private to `prepro/`.
 *
 * @module
 */
import { UserError } from "../util/errors.ts";
import { errorText, readFileOrFail } from "../util/fs.ts";

/** True for `http://`, `https://` and `file://` sources (read with fetch); anything else is a path. */
export function isUrl(source: string): boolean {
  return /^(https?|file):\/\//i.test(source);
}

/**
 * Reads a path or URL. Failures are UserErrors naming the source; a failed download ends with `hint`, which
 * says how to pass a local copy instead.
 */
export async function readSource(
  source: string,
  hint = "download it yourself and pass the local file instead",
  timeoutMs = 120_000,
): Promise<Uint8Array> {
  if (!isUrl(source)) return await readFileOrFail(source, "input text");
  let res: Response;
  try {
    res = await fetch(source, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    throw new UserError(`${source}: download failed (${fetchErrorText(err)}); ${hint}`);
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw new UserError(`${source}: download failed (HTTP ${res.status} ${res.statusText}); ${hint}`);
  }
  try {
    return new Uint8Array(await res.arrayBuffer());
  } catch (err) {
    throw new UserError(`${source}: download failed (${errorText(err)}); ${hint}`);
  }
}

/** Deno's fetch says "fetch failed" and puts the reason (DNS, refused, TLS...) in `cause`. */
function fetchErrorText(err: unknown): string {
  const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : "";
  const reason = cause.replace(/^error sending request for url \([^)]*\):\s*/, "").split("\n")[0];
  return reason || errorText(err);
}

/** Lower-case hex SHA-256 of `bytes`. */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Decodes UTF-8 the way Python's `open(path).read()` does in llm.c's scripts: invalid UTF-8 is an error, a BOM
 * is kept, and universal newlines turn `\r\n` and lone `\r` into `\n`.
 */
export function decodeText(source: string, bytes: Uint8Array): string {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new UserError(`${source}: not valid UTF-8 text`);
  }
  return text.includes("\r") ? text.replace(/\r\n?/g, "\n") : text;
}

/** The last path segment of a path or URL without its extension: `a/b/input.txt` -> `input`. */
export function sourceStem(source: string): string {
  const path = isUrl(source) ? new URL(source).pathname : source;
  const base = path.split(/[\\/]/).filter(Boolean).pop() ?? "text";
  const dot = base.lastIndexOf(".");
  return (dot > 0 ? base.slice(0, dot) : base) || "text";
}
