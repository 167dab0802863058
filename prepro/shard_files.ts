/**
 * The data loader's file side: the shard files a pattern names, and reading a window of tokens from them. What a
 * browser page bundles of the loader (prepro/dataloader.ts) runs none of this, but imports it, so it uses no
 * node: module.
 *
 * @module
 */
import { UserError } from "../util/errors.ts";
import { errorText } from "../util/fs.ts";
import { directoryOf, fileNameOf, joinPath } from "../util/paths.ts";
import { HOST_LITTLE_ENDIAN, SHARD_HEADER_BYTES } from "./shard.ts";

/** Where a loader's tokens come from: the shard files, or shards already in memory. */
export interface ShardSource {
  /** Fills `tokens` (host order) with the shard's tokens from `tokenOffset` on. */
  read(shard: number, tokenOffset: number, tokens: Uint16Array): void;
  close(): void;
}

/** Tokens read from the shard files, one open file at a time. */
export class FileSource implements ShardSource {
  readonly #files: readonly string[];
  #file: Deno.FsFile | null = null;
  #index = -1;

  constructor(files: readonly string[]) {
    this.#files = files;
  }

  read(shard: number, tokenOffset: number, tokens: Uint16Array): void {
    const path = this.#files[shard];
    const bytes = new Uint8Array(tokens.buffer, tokens.byteOffset, tokens.byteLength);
    try {
      if (this.#index !== shard) {
        this.close();
        this.#file = Deno.openSync(path, { read: true });
        this.#index = shard;
      }
      const file = this.#file!;
      file.seekSync(SHARD_HEADER_BYTES + 2 * tokenOffset, Deno.SeekMode.Start);
      let got = 0;
      while (got < bytes.length) {
        const n = file.readSync(bytes.subarray(got));
        if (n === null) throw new Error("unexpected end of file (was it changed?)");
        got += n;
      }
    } catch (err) {
      throw new UserError(`${path}: cannot read token file (${errorText(err)})`);
    }
    if (!HOST_LITTLE_ENDIAN) { // tokens are little-endian on disk
      for (let i = 0; i < tokens.length; i++) {
        const t = tokens[i];
        tokens[i] = (t >>> 8) | ((t & 0xff) << 8);
      }
    }
  }

  close(): void {
    this.#file?.close();
    this.#file = null;
    this.#index = -1;
  }
}

/**
 * Expands a shard pattern: `*`, `?` and `[...]` in the file name (not in directories) match like a shell glob;
 * the matches are sorted. A pattern without those characters is returned as is (reading it reports a missing file).
 *
 * @param pattern e.g. `data/fineweb10B/fineweb_train_*.bin`.
 * @returns Matching files, sorted.
 * @example
 * ```ts
 * import { expandShardPattern } from "./dataloader.ts";
 * console.log(await expandShardPattern("data/x_val.bin")); // ["data/x_val.bin"]
 * ```
 */
export async function expandShardPattern(pattern: string): Promise<string[]> {
  const dir = directoryOf(pattern);
  const name = fileNameOf(pattern);
  if (!/[*?[]/.test(pattern)) return [pattern];
  if (/[*?[]/.test(dir)) {
    throw new UserError(`${pattern}: wildcards are only supported in the file name, not in directories`);
  }
  const re = globToRegExp(name);
  const matches: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (!entry.isDirectory && re.test(entry.name)) matches.push(joinPath(dir, entry.name));
    }
  } catch (err) {
    throw new UserError(`${pattern}: no files match (cannot list ${dir}: ${errorText(err)})`);
  }
  if (matches.length === 0) throw new UserError(`${pattern}: no files match this pattern`);
  return matches.sort();
}

function globToRegExp(glob: string): RegExp {
  let src = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === "*") src += ".*";
    else if (c === "?") src += ".";
    else if (c === "[") {
      const close = glob.indexOf("]", i + 2);
      if (close < 0) {
        src += "\\[";
        continue;
      }
      let body = glob.slice(i + 1, close);
      if (body[0] === "!") body = "^" + body.slice(1);
      src += `[${body.replace(/\\/g, "\\\\")}]`;
      i = close;
    } else src += c.replace(/[.+^${}()|\\\]]/g, "\\$&");
  }
  return new RegExp(`^${src}$`);
}
