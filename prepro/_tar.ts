/**
 * A streaming tar reader, enough for the archives datasets ship in: POSIX ustar and old-style (v7) headers, regular
 * files, GNU long names (`././@LongLink`, type `L`) and pax extended headers (type `x`, its `path` record). Every
 * header's checksum is verified, so a file that is not a tar archive (or a damaged one) fails on its first bad
 * header. Only the entries a caller wants are held in memory, one at a time; the rest are skipped as they stream
 * past. Private to `prepro/`.
 *
 * @module
 */
import { UserError } from "../util/errors.ts";

const BLOCK = 512;

/** One regular file of an archive. */
export interface TarFile {
  /** Its path inside the archive, without a leading `./`. */
  path: string;
  /** Its contents. */
  data: Uint8Array;
}

/**
 * Reads exact byte counts from a stream of chunks. A failing stream (corrupt gzip, say) turns into the UserError
 * that `onError` makes of it.
 */
export class ByteReader {
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #chunk: Uint8Array = new Uint8Array(0);
  #at = 0;
  #onError: (err: unknown) => UserError;
  /** Bytes consumed so far. */
  consumed = 0;

  /**
   * @param stream The bytes.
   * @param onError Makes the one-line error for a stream that fails while being read.
   */
  constructor(stream: ReadableStream<Uint8Array>, onError: (err: unknown) => UserError) {
    this.#reader = stream.getReader();
    this.#onError = onError;
  }

  /** The next chunk of at most `max` bytes (a view, valid until the next call), or null at the end. */
  async next(max: number): Promise<Uint8Array | null> {
    while (this.#at >= this.#chunk.length) {
      let r: ReadableStreamReadResult<Uint8Array>;
      try {
        r = await this.#reader.read();
      } catch (err) {
        throw this.#onError(err);
      }
      if (r.done) return null;
      this.#chunk = r.value;
      this.#at = 0;
    }
    const n = Math.min(max, this.#chunk.length - this.#at);
    const out = this.#chunk.subarray(this.#at, this.#at + n);
    this.#at += n;
    this.consumed += n;
    return out;
  }

  /** Exactly `n` bytes in a fresh array, or fewer if the stream ends first. */
  async read(n: number): Promise<Uint8Array> {
    const out = new Uint8Array(n);
    let got = 0;
    while (got < n) {
      const part = await this.next(n - got);
      if (part === null) return out.subarray(0, got);
      out.set(part, got);
      got += part.length;
    }
    return out;
  }

  /** Skips `n` bytes; returns how many were there. */
  async skip(n: number): Promise<number> {
    let got = 0;
    while (got < n) {
      const part = await this.next(n - got);
      if (part === null) break;
      got += part.length;
    }
    return got;
  }

  /** Stops reading (the stream is cancelled). */
  async cancel(): Promise<void> {
    await this.#reader.cancel().catch(() => {});
  }
}

/**
 * The regular files of a tar archive for which `want(path)` is true, in archive order, each read whole.
 *
 * @param reader The archive's bytes (already decompressed).
 * @param name The archive's name, for error messages.
 * @param want Which paths to read; the others are skipped.
 * @returns The wanted files.
 * @example
 * ```ts
 * import { ByteReader, tarFiles } from "./_tar.ts";
 * import { UserError } from "../util/errors.ts";
 * const empty = new Blob([new Uint8Array(1024)]).stream(); // two zero blocks: an empty archive
 * const reader = new ByteReader(empty, () => new UserError("x.tar: unreadable"));
 * for await (const f of tarFiles(reader, "x.tar", () => true)) console.log(f.path); // (prints nothing)
 * ```
 */
export async function* tarFiles(
  reader: ByteReader,
  name: string,
  want: (path: string) => boolean,
): AsyncGenerator<TarFile> {
  try {
    yield* entries(reader, name, want);
  } finally {
    await reader.cancel();
  }
}

async function* entries(reader: ByteReader, name: string, want: (path: string) => boolean): AsyncGenerator<TarFile> {
  let longName: string | undefined;
  for (;;) {
    const at = reader.consumed;
    const header = await reader.read(BLOCK);
    if (header.length === 0) return; // no end-of-archive blocks: accepted, as GNU tar does
    if (header.length < BLOCK) throw new UserError(`${name}: truncated tar archive (a header cut at byte ${at})`);
    if (header.every((b) => b === 0)) return;
    checkHeader(header, name, at);
    const type = String.fromCharCode(header[156] || 0x30);
    const size = headerSize(header, name, at);
    const padded = Math.ceil(size / BLOCK) * BLOCK;
    if (type === "L" || type === "x") {
      const body = await reader.read(size);
      if (body.length < size || (await reader.skip(padded - size)) < padded - size) truncated(name, at);
      longName = type === "L" ? cString(body) : paxPath(body) ?? longName;
      continue;
    }
    const path = (longName ?? headerPath(header)).replace(/^(\.\/)+/, "");
    longName = undefined;
    const regular = type === "0" || type === "7";
    if (regular && want(path)) {
      const data = await reader.read(size);
      if (data.length < size || (await reader.skip(padded - size)) < padded - size) truncated(name, at);
      yield { path, data };
    } else if ((await reader.skip(padded)) < padded) {
      truncated(name, at);
    }
  }
}

function truncated(name: string, at: number): never {
  throw new UserError(`${name}: truncated tar archive (the entry at byte ${at} is cut short)`);
}

/** The checksum is the byte sum of the header with its own field read as spaces. */
function checkHeader(header: Uint8Array, name: string, at: number): void {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i];
  const stored = parseOctal(header.subarray(148, 156));
  if (stored !== sum) {
    throw new UserError(`${name}: not a tar archive, or a corrupt one (bad header checksum at byte ${at})`);
  }
}

/** The size field: octal digits, or GNU's base-256 form when its first byte has the high bit set. */
function headerSize(header: Uint8Array, name: string, at: number): number {
  const field = header.subarray(124, 136);
  let size: number;
  if (field[0] & 0x80) {
    size = field[0] & 0x7f;
    for (let i = 1; i < field.length; i++) size = size * 256 + field[i];
  } else {
    size = parseOctal(field);
  }
  if (!Number.isSafeInteger(size) || size < 0) throw new UserError(`${name}: bad tar entry size at byte ${at}`);
  return size;
}

function parseOctal(field: Uint8Array): number {
  const s = text(field).replace(/[\0 ]+$/, "").trim();
  return s === "" ? 0 : /^[0-7]+$/.test(s) ? Number.parseInt(s, 8) : NaN;
}

/** ustar splits long paths into `prefix/name`. */
function headerPath(header: Uint8Array): string {
  const base = cString(header.subarray(0, 100));
  const ustar = text(header.subarray(257, 262)) === "ustar";
  const prefix = ustar ? cString(header.subarray(345, 500)) : "";
  return prefix ? `${prefix}/${base}` : base;
}

/** The `path` record of a pax header: lines `LEN key=value\n`. */
function paxPath(body: Uint8Array): string | undefined {
  let path: string | undefined;
  for (const record of text(body).split("\n")) {
    const m = /^\d+ path=(.*)$/s.exec(record);
    if (m) path = m[1];
  }
  return path;
}

function cString(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return text(end < 0 ? bytes : bytes.subarray(0, end));
}

function text(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes);
}
