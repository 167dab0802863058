/**
 * Writes one llm.c token shard incrementally, for datasets too large to hold: the tokens go to a temporary file
 * beside the final name as they come, the header's token count is filled in at the end, and only then is the file
 * renamed into place. An interrupted or failed run leaves no shard under a final name that is not complete.
 * Private to `prepro/`.
 *
 * @module
 */
import { UserError } from "../util/errors.ts";
import { errorText, openTempFor } from "../util/fs.ts";
import { encodeShard, HOST_LITTLE_ENDIAN } from "./shard.ts";

/** A shard being written (see the module doc). */
export class ShardWriter {
  /** The final file name. */
  readonly path: string;
  #tmp: string;
  #file: Deno.FsFile;
  #tokens = 0;

  private constructor(path: string, tmp: string, file: Deno.FsFile) {
    this.path = path;
    this.#tmp = tmp;
    this.#file = file;
  }

  /**
   * Creates the output directory if needed and opens the temporary file with a placeholder header.
   *
   * @param path The shard's final name.
   * @returns The writer.
   */
  static async create(path: string): Promise<ShardWriter> {
    const { tmp, file } = await openTempFor(path);
    const w = new ShardWriter(path, tmp, file);
    await w.#write(encodeShard([]));
    return w;
  }

  /** Tokens written so far. */
  get tokens(): number {
    return this.#tokens;
  }

  /**
   * Appends tokens.
   *
   * @param tokens Token ids.
   */
  async append(tokens: Uint16Array): Promise<void> {
    if (this.#tokens + tokens.length > 0x7fffffff) {
      throw new UserError(`${this.path}: more than 2^31-1 tokens do not fit one shard; use smaller shards`);
    }
    this.#tokens += tokens.length;
    if (HOST_LITTLE_ENDIAN) {
      await this.#write(new Uint8Array(tokens.buffer, tokens.byteOffset, tokens.byteLength));
    } else {
      const bytes = new Uint8Array(tokens.length * 2);
      const view = new DataView(bytes.buffer);
      for (let i = 0; i < tokens.length; i++) view.setUint16(2 * i, tokens[i], true);
      await this.#write(bytes);
    }
  }

  /** Writes the header's token count, syncs, closes and renames the file into place. */
  async finish(): Promise<void> {
    try {
      await this.#file.seek(8, Deno.SeekMode.Start); // header int32 [2]: the token count
      const count = new Uint8Array(4);
      new DataView(count.buffer).setInt32(0, this.#tokens, true);
      await this.#write(count);
      await this.#file.sync();
      this.#file.close();
      await Deno.rename(this.#tmp, this.path);
    } catch (err) {
      await this.abort();
      throw err instanceof UserError ? err : new UserError(`${this.path}: cannot write (${errorText(err)})`);
    }
  }

  /** Closes and removes the temporary file (after a failure); the final name is never touched. */
  async abort(): Promise<void> {
    try {
      this.#file.close();
    } catch { /* already closed */ }
    await Deno.remove(this.#tmp).catch(() => {});
  }

  async #write(bytes: Uint8Array): Promise<void> {
    try {
      let written = 0;
      while (written < bytes.length) written += await this.#file.write(bytes.subarray(written));
    } catch (err) {
      await this.abort();
      throw new UserError(`${this.path}: cannot write (${errorText(err)})`);
    }
  }
}
