/**
 * Downloading a large dataset file to disk as it streams (never whole in memory), to a temporary name that is
 * renamed into place only when the download is complete. Private to `prepro/`.
 *
 * @module
 */
import { UserError } from "../util/errors.ts";
import { errorText } from "../util/fs.ts";
import { directoryOf } from "../util/paths.ts";

/**
 * Downloads `url` to `path` unless `path` already exists (a finished earlier download: partial ones never get the
 * final name). Failures are one-line UserErrors naming the URL and ending with `hint`.
 *
 * @param url An `http(s)://` URL.
 * @param path Where the file goes.
 * @param hint What to do instead, e.g. "download it yourself and pass it with --from PATH".
 * @returns True if it was downloaded now, false if it was already there.
 */
export async function downloadOnce(url: string, path: string, hint: string): Promise<boolean> {
  if (await Deno.stat(path).then((s) => s.isFile, () => false)) return false;
  const connect = new AbortController();
  const timer = setTimeout(() => connect.abort(new Error("no answer within 60 s")), 60_000);
  let res: Response;
  try {
    res = await fetch(url, { signal: connect.signal });
  } catch (err) {
    throw new UserError(`${url}: download failed (${reason(err)}); ${hint}`);
  } finally {
    clearTimeout(timer);
  }
  if (!res.ok || !res.body) {
    await res.body?.cancel();
    throw new UserError(`${url}: download failed (HTTP ${res.status} ${res.statusText}); ${hint}`);
  }
  try {
    await Deno.mkdir(directoryOf(path), { recursive: true });
  } catch (err) {
    await res.body.cancel();
    throw new UserError(`${path}: cannot create directory ${directoryOf(path)} (${errorText(err)})`);
  }
  const tmp = `${path}.download-${Deno.pid}`;
  try {
    const file = await Deno.open(tmp, { write: true, create: true, truncate: true });
    await res.body.pipeTo(file.writable); // closes the file
    await Deno.rename(tmp, path);
  } catch (err) {
    await Deno.remove(tmp).catch(() => {});
    throw new UserError(`${url}: download failed (${reason(err)}); ${hint}`);
  }
  return true;
}

/** Deno's fetch puts the reason (DNS, refused, TLS...) in `cause`. */
function reason(err: unknown): string {
  const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : "";
  return cause.replace(/^error sending request for url \([^)]*\):\s*/, "").split("\n")[0] || errorText(err);
}
