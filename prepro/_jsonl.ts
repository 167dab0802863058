/**
 * The `text` field of each line of a JSON Lines file (`.jsonl`, or `.jsonl.gz` decompressed as it streams), read
 * line by line: memory holds one batch of texts. Blank lines are skipped; anything else that is not a JSON object
 * with a string `text` is a UserError naming the file and the line. Private to `prepro/`.
 *
 * @module
 */
import { UserError } from "../util/errors.ts";
import { errorText } from "../util/fs.ts";
import { jsonType } from "./_dataset.ts";

/** A batch of texts from consecutive lines. */
export interface LineTexts {
  /** The `text` values, in line order. */
  texts: string[];
  /** Bytes of the file (compressed, for `.gz`) read so far. */
  bytesRead: number;
}

/**
 * Streams the texts of a `.jsonl` or `.jsonl.gz` file in batches of about `batchChars` UTF-16 code units.
 *
 * @param path The file; a name ending in `.gz` is gunzipped.
 * @param batchChars Batch size.
 * @returns The batches, in line order.
 */
export async function* jsonlTexts(path: string, batchChars: number): AsyncGenerator<LineTexts> {
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
  const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  let line = 0, chars = 0;
  let texts: string[] = [];
  let rest: Uint8Array[] = []; // the start of a line that continues in the next chunk
  const take = (bytes: Uint8Array) => {
    line++;
    let s: string;
    try {
      s = utf8.decode(bytes);
    } catch {
      throw new UserError(`${path}: line ${line}: not valid UTF-8 text`);
    }
    if (/^\s*$/.test(s)) return;
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
    chars += text.length;
  };
  try {
    for (;;) {
      let r: ReadableStreamReadResult<Uint8Array>;
      try {
        r = await reader.read();
      } catch (err) {
        throw new UserError(`${path}: ${gz ? "corrupt gzip data" : "cannot read"} (${errorText(err)})`);
      }
      if (r.done) break;
      let chunk = r.value;
      let nl = chunk.indexOf(0x0a);
      if (nl >= 0 && rest.length > 0) {
        take(concat([...rest, chunk.subarray(0, nl)]));
        rest = [];
        chunk = chunk.subarray(nl + 1);
        nl = chunk.indexOf(0x0a);
      }
      let start = 0;
      for (; nl >= 0; nl = chunk.indexOf(0x0a, start)) {
        take(chunk.subarray(start, nl));
        start = nl + 1;
      }
      if (start < chunk.length) rest.push(chunk.slice(start));
      if (chars >= batchChars) {
        yield { texts, bytesRead };
        texts = [];
        chars = 0;
      }
    }
    if (rest.length > 0) take(concat(rest));
    if (texts.length > 0) yield { texts, bytesRead };
  } finally {
    await reader.cancel().catch(() => {});
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
