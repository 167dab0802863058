/**
 * The `text` column of a Parquet file (FineWeb's layout), read one row group at a time with `hyparquet` (and
 * `hyparquet-compressors` for gzip, zstd, brotli, lz4 pages) over positioned reads of the file, so memory holds one
 * row group's column chunk per reader. The main thread opens a file for its footer; each tokenizing Worker opens
 * it again and decodes the row groups it is given. Strings are decoded here, strictly, so invalid UTF-8 names its
 * row instead of turning into U+FFFD. Private to `prepro/`.
 *
 * @module
 */
// Full `npm:` specifiers, not the import map: this module must resolve where no deno.json applies (imported by URL).
import {
  type AsyncBuffer,
  type FileMetaData,
  parquetMetadataAsync,
  parquetRead,
  parquetSchema,
} from "npm:hyparquet@1.33.0";
import { compressors } from "npm:hyparquet-compressors@1.1.2";
import { UserError } from "../util/errors.ts";
import { errorText } from "../util/fs.ts";

/** A Parquet file opened for its `text` column. */
export interface ParquetTextFile {
  /** The file. */
  path: string;
  /** Its size in bytes. */
  bytes: number;
  /** Rows in all row groups (from the footer). */
  rows: number;
  /** The footer. */
  metadata: FileMetaData;
  /** Positioned reads of the file. */
  buffer: AsyncBuffer;
  /** Closes the file. */
  close(): void;
}

/**
 * Opens a Parquet file, reads its footer and checks that it has a top-level string column `text`.
 *
 * @param path The file.
 * @returns The open file; call `close()` when done.
 */
export async function openParquetText(path: string): Promise<ParquetTextFile> {
  let file: Deno.FsFile;
  let size: number;
  try {
    file = await Deno.open(path);
    size = (await file.stat()).size;
  } catch (err) {
    throw new UserError(`${path}: cannot read Parquet file (${errorText(err)})`);
  }
  const buffer = fileBuffer(file, size, path);
  let metadata: FileMetaData;
  try {
    metadata = await parquetMetadataAsync(buffer);
  } catch (err) {
    file.close();
    if (err instanceof UserError) throw err;
    throw new UserError(`${path}: not a Parquet file, or a corrupt one (${errorText(err)})`);
  }
  const columns = parquetSchema(metadata).children;
  const text = columns.find((c) => c.element.name === "text");
  if (!text) {
    file.close();
    const names = columns.map((c) => c.element.name).join(", ");
    throw new UserError(`${path}: no "text" column (its columns: ${names || "none"})`);
  }
  if (text.children.length > 0 || text.element.type !== "BYTE_ARRAY") {
    file.close();
    const what = text.children.length > 0 ? "a nested group" : text.element.type;
    throw new UserError(`${path}: the "text" column holds ${what}, not strings`);
  }
  return { path, bytes: size, rows: Number(metadata.num_rows), metadata, buffer, close: () => file.close() };
}

/**
 * The `text` values of one row group (the tokenizing Workers call this, each on its own open file). A null text,
 * invalid UTF-8 or a damaged page is a UserError naming the file and the row (or row group).
 *
 * @param pf An open file from {@linkcode openParquetText}.
 * @param rowGroup The row group's index.
 * @param firstRow Its first row's number in the file (the rows of the row groups before it).
 * @returns Its texts, in row order.
 */
export async function rowGroupTexts(pf: ParquetTextFile, rowGroup: number, firstRow: number): Promise<string[]> {
  const rows = Number(pf.metadata.row_groups[rowGroup].num_rows);
  let values: unknown[] = [];
  try {
    await parquetRead({
      file: pf.buffer,
      metadata: pf.metadata,
      columns: ["text"],
      rowStart: firstRow,
      rowEnd: firstRow + rows,
      compressors,
      parsers: { stringFromBytes: (bytes: Uint8Array) => bytes }, // decoded below, strictly
      onComplete: (r: unknown[][]) => (values = r.map((row) => row[0])),
    });
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw new UserError(`${pf.path}: corrupt Parquet data in row group ${rowGroup} (${errorText(err)})`);
  }
  if (values.length !== rows) {
    throw new UserError(`${pf.path}: row group ${rowGroup} should hold ${rows} rows but ${values.length} were read`);
  }
  const texts: string[] = new Array(rows);
  for (let i = 0; i < rows; i++) {
    const v = values[i];
    if (typeof v === "string") texts[i] = v;
    else if (v instanceof Uint8Array) {
      try {
        texts[i] = strictUtf8.decode(v);
      } catch {
        throw new UserError(`${pf.path}: row ${firstRow + i}: the text is not valid UTF-8`);
      }
    } else {
      throw new UserError(`${pf.path}: row ${firstRow + i}: the text is ${v === null ? "null" : typeof v}`);
    }
  }
  return texts;
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** hyparquet's AsyncBuffer over one open file; reads are queued so that seek + read pairs never interleave. */
function fileBuffer(file: Deno.FsFile, size: number, path: string): AsyncBuffer {
  let queue: Promise<unknown> = Promise.resolve();
  const read = async (start: number, end: number): Promise<ArrayBuffer> => {
    const out = new Uint8Array(end - start);
    try {
      await file.seek(start, Deno.SeekMode.Start);
      let got = 0;
      while (got < out.length) {
        const n = await file.read(out.subarray(got));
        if (n === null) throw new Error(`unexpected end of file at byte ${start + got}`);
        got += n;
      }
    } catch (err) {
      throw new UserError(`${path}: cannot read Parquet file (${errorText(err)})`);
    }
    return out.buffer;
  };
  return {
    byteLength: size,
    slice(start: number, end = size): Promise<ArrayBuffer> {
      const s = Math.max(0, start < 0 ? size + start : start);
      const e = Math.min(size, end < 0 ? size + end : end);
      const result = queue.then(() => read(s, Math.max(s, e)));
      queue = result.catch(() => {});
      return result;
    },
  };
}
