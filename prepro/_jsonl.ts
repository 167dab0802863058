/**
 * JSON Lines files (`.jsonl`, or `.jsonl.gz` decompressed as it streams) with a `text` field on each line, read in
 * two halves: {@linkcode jsonlChunks} (the main thread) cuts the byte stream into runs of whole lines, and
 * {@linkcode jsonlChunkTexts} (a tokenizing Worker) decodes one run into its texts. Memory holds a few runs.
 * Blank lines are skipped; anything else that is not a JSON object with a string `text` is a UserError naming the
 * file and the line. Private to `prepro/`.
 *
 * @module
 */
import { UserError } from "../util/errors.ts";
import { errorText } from "../util/fs.ts";
import { firstBadLine, jsonType } from "./_dataset.ts";

/** JSON Lines are handed to a Worker in runs of about this many bytes (whole lines, so a long line makes more). */
export const JSONL_CHUNK_BYTES = 2 << 20;

/** A run of whole lines of a JSON Lines file. */
export interface LineChunk {
  /** The lines' bytes, each line ending in `\n` (but perhaps the file's last); a fresh buffer of this size. */
  bytes: Uint8Array<ArrayBuffer>;
  /** Lines of the file before these. */
  firstLine: number;
  /** Bytes of the file (compressed, for `.gz`) read so far. */
  bytesRead: number;
}

/**
 * Streams a `.jsonl` or `.jsonl.gz` file as runs of whole lines of at least `chunkBytes` bytes (the last run may
 * be shorter). Only line ends are looked for here; decoding is {@linkcode jsonlChunkTexts}'s.
 *
 * @param path The file; a name ending in `.gz` is gunzipped.
 * @param chunkBytes Where a run is cut (at the next line end).
 * @returns The runs, in file order.
 */
export async function* jsonlChunks(path: string, chunkBytes: number = JSONL_CHUNK_BYTES): AsyncGenerator<LineChunk> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path);
  } catch (err) {
    throw new UserError(`${path}: cannot read JSON Lines file (${errorText(err)})`);
  }
  const gz = path.endsWith(".gz");
  let bytesRead = 0;
  const counted = file.readable.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array<ArrayBuffer>>({
      transform(chunk, out) {
        // Deno.FsFile.readable yields ArrayBuffer-backed chunks
        bytesRead += chunk.length;
        out.enqueue(chunk as Uint8Array<ArrayBuffer>);
      },
    }),
  );
  const stream = gz ? counted.pipeThrough(new DecompressionStream("gzip")) : counted;
  const reader = stream.getReader();
  let parts: Uint8Array[] = []; // bytes read and not yet handed out, in order
  let held = 0;
  let firstLine = 0;
  try {
    for (;;) {
      let r: ReadableStreamReadResult<Uint8Array>;
      try {
        r = await reader.read();
      } catch (err) {
        throw new UserError(`${path}: ${gz ? "corrupt gzip data" : "cannot read"} (${errorText(err)})`);
      }
      if (r.done) break;
      parts.push(r.value);
      held += r.value.length;
      if (held < chunkBytes) continue;
      // Cut after the last line end held (searching back from the newest part).
      for (let p = parts.length - 1; p >= 0; p--) {
        const nl = parts[p].lastIndexOf(0x0a);
        if (nl < 0) continue;
        const tail = parts[p].subarray(nl + 1);
        const bytes = concat([...parts.slice(0, p), parts[p].subarray(0, nl + 1)]);
        parts = [...(tail.length > 0 ? [tail.slice()] : []), ...parts.slice(p + 1)];
        held -= bytes.length;
        const lines = countLineEnds(bytes); // counted first: the consumer may transfer the bytes away
        yield { bytes, firstLine, bytesRead };
        firstLine += lines;
        break;
      }
    }
    if (held > 0) yield { bytes: concat(parts), firstLine, bytesRead };
  } finally {
    await reader.cancel().catch(() => {});
  }
}

/**
 * The `text` values of a run of JSON Lines (from {@linkcode jsonlChunks}), checked line by line.
 *
 * @param bytes Whole lines.
 * @param path The file, for messages.
 * @param firstLine Lines of the file before these (so messages give the file's line number).
 * @returns The texts, in line order; blank lines give none.
 * @example
 * ```ts
 * import { jsonlChunkTexts } from "./_jsonl.ts";
 * const bytes = new TextEncoder().encode('{"text": "a"}\n\n{"text": "b"}\n');
 * console.log(jsonlChunkTexts(bytes, "x.jsonl", 0)); // ["a", "b"]
 * ```
 */
export function jsonlChunkTexts(bytes: Uint8Array, path: string, firstLine: number): string[] {
  let all: string;
  try {
    all = strictUtf8.decode(bytes);
  } catch {
    throw new UserError(`${path}: line ${firstLine + firstBadLine(bytes)}: not valid UTF-8 text`);
  }
  const lines = all.split("\n");
  if (lines[lines.length - 1] === "") lines.pop(); // the last line's end
  const texts: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const s = lines[i];
    if (/^\s*$/.test(s)) continue;
    const line = firstLine + i + 1;
    let doc: unknown;
    try {
      doc = JSON.parse(s);
    } catch (err) {
      throw new UserError(`${path}: line ${line}: invalid JSON (${(err as Error).message})`);
    }
    const text = (doc as { text?: unknown } | null)?.text;
    if (doc === null || typeof doc !== "object" || Array.isArray(doc)) {
      throw new UserError(`${path}: line ${line}: expected a JSON object with a "text" string, got ${jsonType(doc)}`);
    }
    if (typeof text !== "string") {
      const what = text === undefined ? 'has no "text" field' : `has a "text" that is ${jsonType(text)}`;
      throw new UserError(`${path}: line ${line}: the object ${what}, not a string`);
    }
    texts.push(text);
  }
  return texts;
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function countLineEnds(bytes: Uint8Array): number {
  let n = 0;
  for (let at = bytes.indexOf(0x0a); at >= 0; at = bytes.indexOf(0x0a, at + 1)) n++;
  return n;
}

function concat(parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
