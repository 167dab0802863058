/**
 * The safetensors format, read and written without dependencies. A file is an 8-byte little-endian header length n,
 * n bytes of JSON `{ name: { dtype, shape, data_offsets: [begin, end] }, "__metadata__"?: { key: string } }` (offsets
 * relative to the end of the header), then the raw little-endian tensor data. Reading validates the whole header
 * against the file before any tensor is read, then reads one tensor at a time with positioned reads (a 6 GB file is
 * never one buffer), widening F32/F16/BF16 to float32.
 *
 * @module
 */
import { bf16BitsToF32, f16ToF32, f32ToBf16Bits } from "../util/f16.ts";
import { UserError } from "../util/errors.ts";
import { errorText, writeFileAtomic } from "../util/fs.ts";

/** Bytes per element of every dtype the format defines (sizes are checked for all; values are read for F32/F16/BF16). */
// deno-fmt-ignore
const DTYPE_BYTES: Record<string, number> = {
  BOOL: 1, U8: 1, I8: 1, F8_E4M3: 1, F8_E5M2: 1, U16: 2, I16: 2, F16: 2, BF16: 2,
  U32: 4, I32: 4, F32: 4, U64: 8, I64: 8, F64: 8,
};

/** The dtypes that `SafetensorsReader.readFloat32` converts. */
export const FLOAT_DTYPES = ["F32", "F16", "BF16"] as const;

/** The safetensors library's limit on the JSON header, which we share (a larger one is not a real file). */
const MAX_HEADER_BYTES = 100_000_000;
/** Positioned reads and dtype conversions go through buffers of at most this many bytes. */
const CHUNK_BYTES = 64 << 20;

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new Error("safetensors.ts assumes a little-endian host (typed arrays are used as the file's byte order)");
}

/** One tensor as the header describes it. */
export interface SafetensorsEntry {
  name: string;
  /** e.g. "F32", "BF16". */
  dtype: string;
  shape: number[];
  /** Start of its data, in bytes from the start of the file. */
  byteOffset: number;
  byteLength: number;
}

/** A parsed, validated header. */
export interface SafetensorsHeader {
  /** Tensors in header order. */
  tensors: Map<string, SafetensorsEntry>;
  /** The optional `__metadata__` string map. */
  metadata: Record<string, string>;
  /** Where tensor data starts (8 + header length). */
  dataStart: number;
}

/**
 * Validates a safetensors header: JSON shape, known dtypes, integer shapes, offsets inside the file, sizes equal to
 * product(shape)·dtype size, no two tensors overlapping.
 *
 * @param path File name, for messages.
 * @param json The header's JSON text.
 * @param dataStart 8 + the header length.
 * @param fileSize Size of the whole file.
 * @returns The header with absolute byte offsets.
 * @throws UserError naming the file (and the tensor) on the first problem.
 * @example
 * ```ts
 * import { parseSafetensorsHeader } from "./safetensors.ts";
 * const h = parseSafetensorsHeader("x.safetensors", '{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', 64, 72);
 * if (h.tensors.get("w")!.byteOffset !== 64) throw new Error("offsets are relative to the data start");
 * ```
 */
export function parseSafetensorsHeader(
  path: string,
  json: string,
  dataStart: number,
  fileSize: number,
): SafetensorsHeader {
  let header: unknown;
  try {
    header = JSON.parse(json);
  } catch (err) {
    throw new UserError(`${path}: safetensors header is not valid JSON (${errorText(err)})`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    throw new UserError(`${path}: safetensors header is not a JSON object`);
  }
  const metadata: Record<string, string> = {};
  const tensors = new Map<string, SafetensorsEntry>();
  for (const [name, value] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (typeof value !== "object" || value === null) throw new UserError(`${path}: __metadata__ is not an object`);
      for (const [k, v] of Object.entries(value)) metadata[k] = String(v);
      continue;
    }
    tensors.set(name, parseEntry(path, name, value, dataStart));
  }
  const sorted = [...tensors.values()].sort((a, b) => a.byteOffset - b.byteOffset || a.byteLength - b.byteLength);
  for (let i = 0; i < sorted.length; i++) {
    const t = sorted[i];
    const end = t.byteOffset + t.byteLength;
    if (end > fileSize) {
      throw new UserError(
        `${path}: truncated: tensor '${t.name}' ends at byte ${end} but the file has ${fileSize} bytes`,
      );
    }
    const prev = sorted[i - 1];
    if (prev && t.byteOffset < prev.byteOffset + prev.byteLength) {
      throw new UserError(`${path}: tensors '${prev.name}' and '${t.name}' overlap in the file (bad data_offsets)`);
    }
  }
  return { tensors, metadata, dataStart };
}

function parseEntry(path: string, name: string, value: unknown, dataStart: number): SafetensorsEntry {
  const where = `${path}: tensor '${name}'`;
  const v = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown } | null;
  if (typeof v !== "object" || v === null) throw new UserError(`${where}: header entry is not an object`);
  const { dtype, shape, data_offsets: offsets } = v;
  if (typeof dtype !== "string" || !(dtype in DTYPE_BYTES)) {
    throw new UserError(`${where}: unknown dtype ${JSON.stringify(dtype)}`);
  }
  const isCount = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0;
  if (!Array.isArray(shape) || !shape.every(isCount)) {
    throw new UserError(`${where}: shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount) || offsets[1] < offsets[0]) {
    throw new UserError(`${where}: data_offsets ${JSON.stringify(offsets)} is not [begin, end] with begin <= end`);
  }
  const [begin, end] = offsets as [number, number];
  const need = shape.reduce((a: number, b: number) => a * b, 1) * DTYPE_BYTES[dtype];
  if (end - begin !== need) {
    throw new UserError(
      `${where}: data_offsets [${begin}, ${end}] hold ${end - begin} bytes but shape [${shape}] of ${dtype} ` +
        `needs ${need}`,
    );
  }
  return { name, dtype, shape: shape as number[], byteOffset: dataStart + begin, byteLength: need };
}

/**
 * An open safetensors file: the validated header, and tensors read on demand. Close it (or `using` it) when done.
 *
 * @example
 * ```ts
 * import { SafetensorsReader, writeSafetensors } from "./safetensors.ts";
 * const path = (await Deno.makeTempDir()) + "/t.safetensors";
 * await writeSafetensors(path, [{ name: "w", shape: [2], data: new Float32Array([1, 2]) }]);
 * using reader = await SafetensorsReader.open(path);
 * if ((await reader.readFloat32("w"))[1] !== 2) throw new Error("round trip failed");
 * ```
 */
export class SafetensorsReader implements Disposable {
  /** The file name. */
  readonly path: string;
  /** The validated header. */
  readonly header: SafetensorsHeader;
  readonly #source: ByteSource;

  private constructor(path: string, source: ByteSource, header: SafetensorsHeader) {
    this.path = path;
    this.#source = source;
    this.header = header;
  }

  /**
   * Opens `path` and validates its header against the file's size.
   *
   * @param path A `.safetensors` file.
   * @returns The reader.
   * @throws UserError naming the file when it cannot be read or is not a valid safetensors file.
   */
  static async open(path: string): Promise<SafetensorsReader> {
    let file: Deno.FsFile;
    let size: number;
    try {
      file = await Deno.open(path, { read: true });
      size = (await file.stat()).size;
    } catch (err) {
      throw new UserError(`${path}: cannot read safetensors file (${errorText(err)})`);
    }
    const source: ByteSource = {
      read: (position, into) => readAt(path, file, position, into),
      close: () => file.close(),
    };
    try {
      return await SafetensorsReader.#fromSource(path, source, size);
    } catch (err) {
      file.close();
      throw err;
    }
  }

  /**
   * A reader over a safetensors file already in memory (a browser page's picked file), validated as `open` does.
   *
   * @param name The file's name, for messages.
   * @param bytes The whole file.
   * @returns The reader (its `close` does nothing).
   * @throws UserError naming the file when it is not a valid safetensors file.
   * @example
   * ```ts
   * import { encodeSafetensors, SafetensorsReader } from "./safetensors.ts";
   * const chunks = encodeSafetensors([{ name: "w", shape: [2], data: new Float32Array([1, 2]) }]);
   * const bytes = new Uint8Array(await new Blob(chunks as BlobPart[]).arrayBuffer());
   * const reader = await SafetensorsReader.fromBytes("t.safetensors", bytes);
   * if ((await reader.readFloat32("w"))[1] !== 2) throw new Error("round trip failed");
   * ```
   */
  static async fromBytes(name: string, bytes: Uint8Array): Promise<SafetensorsReader> {
    const source: ByteSource = {
      read(position, into) {
        const end = Math.min(position + into.length, bytes.length);
        if (end - position < into.length) {
          return Promise.reject(new UserError(`${name}: truncated: file ended at byte ${Math.max(end, 0)}`));
        }
        into.set(bytes.subarray(position, end));
        return Promise.resolve(into);
      },
      close() {},
    };
    return await SafetensorsReader.#fromSource(name, source, bytes.length);
  }

  static async #fromSource(path: string, source: ByteSource, size: number): Promise<SafetensorsReader> {
    if (size < 8) throw new UserError(`${path}: truncated: ${size} bytes is too short for a safetensors file`);
    const lengthBytes = await source.read(0, new Uint8Array(8));
    const length = new DataView(lengthBytes.buffer).getBigUint64(0, true);
    if (length > BigInt(size - 8)) {
      throw new UserError(
        `${path}: truncated or not a safetensors file: header length ${length} exceeds the file's ${size} bytes`,
      );
    }
    if (length > BigInt(MAX_HEADER_BYTES)) {
      throw new UserError(`${path}: not a safetensors file: header length ${length} is over 100 MB`);
    }
    const json = await source.read(8, new Uint8Array(Number(length)));
    const text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
    let decoded: string;
    try {
      decoded = text.decode(json);
    } catch {
      throw new UserError(`${path}: not a safetensors file: the header is not UTF-8 text`);
    }
    return new SafetensorsReader(path, source, parseSafetensorsHeader(path, decoded, 8 + Number(length), size));
  }

  /**
   * Reads one tensor and widens it to float32 (F32 as is, F16 and BF16 exactly).
   *
   * @param name Tensor name as in the header.
   * @returns Its values in row-major order.
   * @throws UserError naming the file and tensor when it is missing or of another dtype.
   */
  async readFloat32(name: string): Promise<Float32Array> {
    const entry = this.header.tensors.get(name);
    if (!entry) throw new UserError(`${this.path}: no tensor '${name}'`);
    const n = entry.byteLength / DTYPE_BYTES[entry.dtype];
    if (entry.dtype === "F32") {
      const out = new Float32Array(n);
      await this.#readRange(entry.byteOffset, new Uint8Array(out.buffer));
      return out;
    }
    if (entry.dtype !== "F16" && entry.dtype !== "BF16") {
      throw new UserError(
        `${this.path}: tensor '${name}' has dtype ${entry.dtype}; supported: ${FLOAT_DTYPES.join(", ")}`,
      );
    }
    const out = new Float32Array(n);
    const bits = new Uint16Array(Math.min(n, CHUNK_BYTES / 2));
    const widen = entry.dtype === "F16" ? f16ToF32 : bf16BitsToF32;
    for (let i = 0; i < n; i += bits.length) {
      const m = Math.min(bits.length, n - i);
      await this.#readRange(entry.byteOffset + 2 * i, new Uint8Array(bits.buffer, 0, 2 * m));
      widen(bits.subarray(0, m), out.subarray(i, i + m));
    }
    return out;
  }

  /** Closes the file. */
  close(): void {
    this.#source.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  async #readRange(position: number, into: Uint8Array): Promise<void> {
    for (let done = 0; done < into.length; done += CHUNK_BYTES) {
      await this.#source.read(position + done, into.subarray(done, done + CHUNK_BYTES));
    }
  }
}

/** Where a reader's bytes come from: an open file, or a file's bytes in memory. */
interface ByteSource {
  /** Fills `into` from byte `position`; a short file is reported as truncated. */
  read(position: number, into: Uint8Array): Promise<Uint8Array>;
  close(): void;
}

/** Fills `into` from `position`; a short file is reported as truncated. */
async function readAt(path: string, file: Deno.FsFile, position: number, into: Uint8Array): Promise<Uint8Array> {
  let got = 0;
  try {
    await file.seek(position, Deno.SeekMode.Start);
    while (got < into.length) {
      const n = await file.read(into.subarray(got));
      if (n === null) break;
      got += n;
    }
  } catch (err) {
    throw new UserError(`${path}: cannot read safetensors file (${errorText(err)})`);
  }
  if (got < into.length) throw new UserError(`${path}: truncated: file ended at byte ${position + got}`);
  return into;
}

/** One tensor to write: float32 values, or raw little-endian bytes of `dtype`. */
export interface SafetensorsTensor {
  name: string;
  shape: number[];
  /** Defaults to "F32"; must be "F32" when `data` is a Float32Array. */
  dtype?: string;
  data: Float32Array | Uint8Array;
}

/**
 * Lays out a safetensors file as a list of byte chunks: the length, the header (space-padded so data starts on an
 * 8-byte boundary, as the safetensors library does) and each tensor's bytes (views, not copies).
 *
 * @param tensors Tensors in the order to store them.
 * @param metadata Optional `__metadata__` (transformers wants `{ format: "pt" }`).
 * @returns The chunks, in file order.
 * @example
 * ```ts
 * import { encodeSafetensors } from "./safetensors.ts";
 * const [length, header, data] = encodeSafetensors([{ name: "b", shape: [3], data: new Float32Array(3) }]);
 * if (length.length !== 8 || (8 + header.length) % 8 !== 0 || data.length !== 12) throw new Error("bad layout");
 * ```
 */
export function encodeSafetensors(tensors: SafetensorsTensor[], metadata?: Record<string, string>): Uint8Array[] {
  const header: Record<string, unknown> = metadata ? { __metadata__: metadata } : {};
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const t of tensors) {
    const dtype = t.dtype ?? "F32";
    const bytes = t.data instanceof Float32Array
      ? new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)
      : t.data;
    const need = t.shape.reduce((a, b) => a * b, 1) * (DTYPE_BYTES[dtype] ?? NaN);
    if ((t.data instanceof Float32Array && dtype !== "F32") || bytes.length !== need) {
      throw new RangeError(`tensor '${t.name}': ${bytes.length} bytes do not match shape [${t.shape}] of ${dtype}`);
    }
    if (t.name in header) throw new RangeError(`tensor '${t.name}' given twice`);
    header[t.name] = { dtype, shape: t.shape, data_offsets: [offset, offset + bytes.length] };
    chunks.push(bytes);
    offset += bytes.length;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (new TextEncoder().encode(json).length % 8)) % 8);
  const jsonBytes = new TextEncoder().encode(json);
  const length = new Uint8Array(8);
  new DataView(length.buffer).setBigUint64(0, BigInt(jsonBytes.length), true);
  return [length, jsonBytes, ...chunks];
}

/**
 * Writes a safetensors file atomically (temp name + rename).
 *
 * @param path Destination.
 * @param tensors Tensors in the order to store them.
 * @param metadata Optional `__metadata__`.
 */
export async function writeSafetensors(
  path: string,
  tensors: SafetensorsTensor[],
  metadata?: Record<string, string>,
): Promise<void> {
  await writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}

// The 16-bit float conversions live with the others in util/f16.ts; exported here too, where they were first.
export { bf16BitsToF32, f16ToF32, f32ToBf16Bits };
