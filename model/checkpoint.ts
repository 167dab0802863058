/**
 * llm.c model checkpoints. A file is a 256-int32 header — magic 20240326, version, maxSeqLen, vocabSize, numLayers,
 * numHeads, channels, paddedVocabSize, then zeros — followed by the 16 parameter tensors in llm.c's order, wte padded
 * to Vp rows: float32 in version 3, bfloat16 in version 5. All little-endian. This module reads both versions
 * (widening bf16 to fp32 exactly) and writes version 3. The header and the exact file length are checked before any
 * parameter is read.
 *
 * @module
 */
import { errorText, readFileOrFail, writeFileAtomic } from "../util/fs.ts";
import { UserError } from "../util/errors.ts";
import { bf16BitsToF32 } from "../util/f16.ts";
import { type GPT2Config, validateConfig } from "./config.ts";
import { type ParameterName, parameterSpecs } from "./tensors.ts";

/** First header int of an llm.c model checkpoint. */
export const CHECKPOINT_MAGIC = 20240326;
/** Header size in bytes (256 int32). */
export const HEADER_BYTES = 1024;

/** What a checkpoint header says. */
export interface CheckpointHeader {
  /** Model shape from the header fields. */
  config: GPT2Config;
  /** 3 (fp32 parameters) or 5 (bf16 parameters). */
  version: 3 | 5;
}

/** The parameters of a checkpoint, widened to fp32, by name. */
export type ParameterTensors = Record<ParameterName, Float32Array>;

/**
 * Reads and validates a checkpoint's header and length, without reading its parameters.
 *
 * @param path The file.
 * @returns Its config and version.
 * @throws UserError naming the file when it is not a version-3/5 checkpoint or its length disagrees with the header.
 */
export async function readCheckpointHeader(path: string): Promise<CheckpointHeader> {
  let size: number;
  const header = new Uint8Array(HEADER_BYTES);
  let got = 0;
  try {
    using file = await Deno.open(path, { read: true });
    size = (await file.stat()).size;
    while (got < HEADER_BYTES) {
      const n = await file.read(header.subarray(got));
      if (n === null) break;
      got += n;
    }
  } catch (err) {
    throw new UserError(`${path}: cannot read model checkpoint (${errorText(err)})`);
  }
  return parseHeader(path, header.subarray(0, got), size);
}

function parseHeader(path: string, bytes: Uint8Array, fileSize: number): CheckpointHeader {
  if (fileSize < HEADER_BYTES || bytes.length < HEADER_BYTES) {
    throw new UserError(`${path}: ${fileSize} bytes is too short for an llm.c model checkpoint (header is 1024 bytes)`);
  }
  const h = new DataView(bytes.buffer, bytes.byteOffset, HEADER_BYTES);
  const int = (i: number) => h.getInt32(4 * i, true);
  if (int(0) !== CHECKPOINT_MAGIC) {
    throw new UserError(`${path}: bad magic number ${int(0)}, expected ${CHECKPOINT_MAGIC} (not an llm.c model file)`);
  }
  const version = int(1);
  if (version !== 3 && version !== 5) {
    throw new UserError(`${path}: unsupported checkpoint version ${version}; supported: 3 (fp32) and 5 (bf16)`);
  }
  const config: GPT2Config = {
    maxSeqLen: int(2),
    vocabSize: int(3),
    numLayers: int(4),
    numHeads: int(5),
    channels: int(6),
    paddedVocabSize: int(7),
  };
  try {
    validateConfig(config, path);
  } catch (err) {
    throw new UserError(`${(err as Error).message} (in the checkpoint header)`);
  }
  const count = parameterSpecs(config).reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
  const expected = HEADER_BYTES + count * (version === 3 ? 4 : 2);
  if (fileSize !== expected) {
    const shape = `L=${config.numLayers} C=${config.channels} NH=${config.numHeads} V=${config.vocabSize} ` +
      `Vp=${config.paddedVocabSize} maxT=${config.maxSeqLen}`;
    throw new UserError(
      `${path}: file is ${fileSize} bytes but its header (${shape}, version ${version}) needs ${expected}; ` +
        `the file is truncated or its header is wrong`,
    );
  }
  return { config, version };
}

/**
 * Reads a version-3 (fp32) or version-5 (bf16, widened exactly to fp32) checkpoint.
 *
 * @param path The file.
 * @returns The header and the 16 parameter tensors in llm.c's order.
 * @throws UserError naming the file on a bad header or length (checked before the parameters are read).
 */
export async function readCheckpoint(path: string): Promise<CheckpointHeader & { params: ParameterTensors }> {
  await readCheckpointHeader(path);
  // The file may have changed since the header was read: decodeCheckpoint checks the bytes again.
  return decodeCheckpoint(path, await readFileOrFail(path, "model checkpoint"));
}

/**
 * Decodes a version-3 (fp32) or version-5 (bf16, widened exactly to fp32) checkpoint already in memory (a file a
 * browser page was given), with `readCheckpoint`'s checks.
 *
 * @param name The file's name, for messages.
 * @param bytes The whole file.
 * @returns The header and the 16 parameter tensors in llm.c's order (fp32 ones may be views of `bytes`).
 * @throws UserError naming the file on a bad header or length (checked before the parameters are read).
 * @example
 * ```ts
 * import { decodeCheckpoint, encodeCheckpoint } from "./checkpoint.ts";
 * import { parseModelDescriptor } from "./config.ts";
 * import { randomParameters } from "./init.ts";
 * const config = parseModelDescriptor("layers=1,heads=1,channels=4,seq=2,vocab=3")!;
 * const params = Object.fromEntries(randomParameters(config, 1));
 * const bytes = new Uint8Array(await new Blob(encodeCheckpoint(config, params as never) as BlobPart[]).arrayBuffer());
 * if (decodeCheckpoint("m.bin", bytes).params.wte[1] !== params.wte[1]) throw new Error("round trip failed");
 * ```
 */
export function decodeCheckpoint(name: string, bytes: Uint8Array): CheckpointHeader & { params: ParameterTensors } {
  const header = parseHeader(name, bytes, bytes.length);
  const params = {} as ParameterTensors;
  let offset = HEADER_BYTES;
  for (const spec of parameterSpecs(header.config)) {
    const n = spec.shape.reduce((a, b) => a * b, 1);
    const name = spec.name as ParameterName;
    if (header.version === 3) {
      // Typed arrays use the host's byte order; every platform Deno runs on is little-endian, like the file.
      const start = bytes.byteOffset + offset;
      params[name] = start % 4 === 0
        ? new Float32Array(bytes.buffer, start, n)
        : new Float32Array(bytes.buffer.slice(start, start + 4 * n));
      offset += 4 * n;
    } else {
      const start = bytes.byteOffset + offset;
      const bits = start % 2 === 0
        ? new Uint16Array(bytes.buffer, start, n)
        : new Uint16Array(bytes.buffer.slice(start, start + 2 * n));
      params[name] = bf16BitsToF32(bits);
      offset += 2 * n;
    }
  }
  return { ...header, params };
}

/**
 * Writes a version-3 (fp32) checkpoint atomically (temp file + rename). It loads in llm.c.
 *
 * @param path Destination.
 * @param config Model shape.
 * @param params The 16 tensors, each exactly its planned size (wte with Vp rows).
 * @example
 * ```ts
 * import { readCheckpoint, writeCheckpoint } from "./checkpoint.ts";
 * import { parseModelDescriptor } from "./config.ts";
 * import { parameterSpecs } from "./tensors.ts";
 * const config = parseModelDescriptor("layers=1,heads=1,channels=2,seq=2,vocab=3")!;
 * const params = Object.fromEntries(parameterSpecs(config).map((s) => [s.name, new Float32Array(s.shape.reduce((a, b) => a * b))]));
 * const path = await Deno.makeTempFile();
 * await writeCheckpoint(path, config, params as never);
 * if ((await readCheckpoint(path)).config.paddedVocabSize !== 128) throw new Error("round trip failed");
 * ```
 */
export async function writeCheckpoint(path: string, config: GPT2Config, params: ParameterTensors): Promise<void> {
  await writeFileAtomic(path, encodeCheckpoint(config, params));
}

/**
 * An llm.c v3 (fp32) checkpoint's bytes, as chunks in file order (a web page hands them to a Blob).
 *
 * @param config Model shape.
 * @param params The 16 parameter tensors.
 * @returns The header, then each tensor's bytes (views of the arrays, not copies).
 */
export function encodeCheckpoint(config: GPT2Config, params: ParameterTensors): Uint8Array[] {
  const header = new Int32Array(HEADER_BYTES / 4);
  header.set([
    CHECKPOINT_MAGIC,
    3,
    config.maxSeqLen,
    config.vocabSize,
    config.numLayers,
    config.numHeads,
    config.channels,
    config.paddedVocabSize,
  ]);
  const chunks: Uint8Array[] = [new Uint8Array(header.buffer)];
  for (const spec of parameterSpecs(config)) {
    const t = params[spec.name as ParameterName];
    const n = spec.shape.reduce((a, b) => a * b, 1);
    if (!t || t.length !== n) throw new RangeError(`${spec.name}: expected ${n} values, got ${t?.length}`);
    chunks.push(new Uint8Array(t.buffer, t.byteOffset, t.byteLength));
  }
  return chunks;
}
