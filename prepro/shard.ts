/**
 * llm.c's token shard format (`*.bin` written by its `dev/data/*.py`): a header of 256 little-endian int32
 * (`[0]` magic 20240520, `[1]` version 1, `[2]` token count, the rest zero), then the tokens as little-endian
 * uint16. Every read validates the header and the file size and names the file in its error.
 *
 * @module
 */
import { UserError } from "../util/errors.ts";
import { errorText, readFileOrFail, writeFileAtomic } from "../util/fs.ts";

/** First int32 of a token shard. */
export const SHARD_MAGIC = 20240520;
/** Version 1: GPT-2 tokens as uint16. */
export const SHARD_VERSION = 1;
/** Header size in bytes (256 int32). */
export const SHARD_HEADER_BYTES = 256 * 4;

/** Whether the host is little-endian (token arrays are viewed in place as Uint16Array, in the host's byte order). */
export const HOST_LITTLE_ENDIAN: boolean = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Encodes tokens as the bytes of a shard file.
 *
 * @param tokens Token ids, each an integer in [0, 65536).
 * @param name The file name used in error messages.
 * @returns Header + uint16 tokens.
 * @example
 * ```ts
 * import { encodeShard, SHARD_HEADER_BYTES } from "./shard.ts";
 * const bytes = encodeShard([50256, 5962]);
 * console.log(bytes.length === SHARD_HEADER_BYTES + 4); // true
 * ```
 */
export function encodeShard(tokens: ArrayLike<number>, name = "token shard"): Uint8Array {
  if (tokens.length > 0x7fffffff) throw new UserError(`${name}: ${tokens.length} tokens do not fit an int32 count`);
  const out = new Uint8Array(SHARD_HEADER_BYTES + 2 * tokens.length);
  const view = new DataView(out.buffer);
  view.setInt32(0, SHARD_MAGIC, true);
  view.setInt32(4, SHARD_VERSION, true);
  view.setInt32(8, tokens.length, true);
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (!Number.isInteger(t) || t < 0 || t > 0xffff) {
      throw new UserError(`${name}: token ${i} is ${t}, which does not fit uint16 (version 1 shards hold ids < 65536)`);
    }
    view.setUint16(SHARD_HEADER_BYTES + 2 * i, t, true);
  }
  return out;
}

/**
 * Writes a token shard atomically (temp name, then rename).
 *
 * @param path Output file.
 * @param tokens Token ids < 65536.
 * @example
 * ```ts
 * import { readShard, writeShard } from "./shard.ts";
 * const path = (await Deno.makeTempDir()) + "/x_val.bin";
 * await writeShard(path, [50256, 5962, 22307]);
 * console.log(await readShard(path)); // Uint16Array(3) [50256, 5962, 22307]
 * ```
 */
export async function writeShard(path: string, tokens: ArrayLike<number>): Promise<void> {
  await writeFileAtomic(path, encodeShard(tokens, path));
}

/**
 * Checks a shard header against the file size and returns the token count.
 *
 * @param path File name, for the error message.
 * @param header At least the first {@linkcode SHARD_HEADER_BYTES} bytes of the file (fewer: "truncated").
 * @param fileSize The file's size in bytes.
 * @returns The number of tokens.
 */
export function checkShardHeader(path: string, header: Uint8Array, fileSize: number): number {
  if (fileSize < SHARD_HEADER_BYTES || header.length < SHARD_HEADER_BYTES) {
    throw new UserError(
      `${path}: truncated token file: ${fileSize} bytes, shorter than the ${SHARD_HEADER_BYTES}-byte header`,
    );
  }
  const view = new DataView(header.buffer, header.byteOffset, SHARD_HEADER_BYTES);
  const magic = view.getInt32(0, true);
  if (magic !== SHARD_MAGIC) {
    throw new UserError(`${path}: not an llm.c token file: magic number ${magic}, expected ${SHARD_MAGIC}`);
  }
  const version = view.getInt32(4, true);
  if (version !== SHARD_VERSION) {
    throw new UserError(
      `${path}: unsupported token file version ${version}, expected ${SHARD_VERSION} (uint16 tokens)`,
    );
  }
  const count = view.getInt32(8, true);
  const expected = SHARD_HEADER_BYTES + 2 * count;
  if (count < 0 || fileSize !== expected) {
    throw new UserError(
      `${path}: header says ${count} tokens (${expected} bytes) but the file has ${fileSize} bytes; ` +
        "it is truncated or corrupt, re-run prepro",
    );
  }
  return count;
}

/**
 * Reads and validates a whole shard.
 *
 * @param path The `.bin` file.
 * @returns Its tokens.
 * @example
 * ```ts
 * import { readShard } from "./shard.ts";
 * try {
 *   await readShard("no_such_file.bin");
 * } catch (e) {
 *   console.log((e as Error).message); // no_such_file.bin: cannot read token file (no such file or directory)
 * }
 * ```
 */
export async function readShard(path: string): Promise<Uint16Array> {
  return decodeShard(path, await readFileOrFail(path, "token file"));
}

/**
 * Validates a whole shard held in memory (a fetched file, say) and returns its tokens.
 *
 * @param name The shard's name, for error messages.
 * @param bytes The whole file.
 * @returns Its tokens (a view of `bytes` where the layout allows).
 * @example
 * ```ts
 * import { decodeShard, encodeShard } from "./shard.ts";
 * if (decodeShard("x.bin", encodeShard([7, 8]))[1] !== 8) throw new Error("round trip");
 * ```
 */
export function decodeShard(name: string, bytes: Uint8Array): Uint16Array {
  const count = checkShardHeader(name, bytes, bytes.length);
  const body = bytes.subarray(SHARD_HEADER_BYTES);
  if (HOST_LITTLE_ENDIAN && body.byteOffset % 2 === 0) return new Uint16Array(body.buffer, body.byteOffset, count);
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const tokens = new Uint16Array(count);
  for (let i = 0; i < count; i++) tokens[i] = view.getUint16(2 * i, true);
  return tokens;
}

/**
 * Reads only the header of a shard (1 KiB) and validates it against the file's size, without reading the tokens.
 *
 * @param path The `.bin` file.
 * @returns The token count.
 */
export async function readShardCount(path: string): Promise<number> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (err) {
    throw new UserError(`${path}: cannot read token file (${errorText(err)})`);
  }
  try {
    const { size } = await file.stat();
    const header = new Uint8Array(SHARD_HEADER_BYTES);
    let got = 0;
    while (got < header.length) {
      const n = await file.read(header.subarray(got));
      if (n === null) break;
      got += n;
    }
    return checkShardHeader(path, header.subarray(0, got), size);
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw new UserError(`${path}: cannot read token file (${errorText(err)})`);
  } finally {
    file.close();
  }
}
