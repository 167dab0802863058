/**
 * Training state files `state_NNNNNNNN.bin`, written beside each `model_NNNNNNNN.bin` so that `-y 1` resumes a run
 * exactly: AdamW's m and v, plus a JSON block with the step, the RNG state and the DataLoader position.
 *
 * Layout (little-endian): 256 int32 header — [0] magic 20261129, [1] version 1, [2] parameter count low 31 bits,
 * [3] parameter count high bits, [4] JSON byte length — then the UTF-8 JSON, zero-padded to a multiple of 4 bytes,
 * then m (fp32 × params), then v (fp32 × params). This is llm.ts's own format; llm.c's trainer keeps a different
 * one (its magic is not reused here).
 *
 * @module
 */
import { readFileOrFail, writeFileAtomic } from "../util/fs.ts";
import { UserError } from "../util/errors.ts";

/** Magic number of llm.ts training state files. */
export const STATE_MAGIC = 20261129;
const HEADER_BYTES = 1024;

/** What a state file holds besides m and v: plain JSON. */
export type StateMeta = Record<string, unknown>;

/**
 * Writes a state file atomically.
 *
 * @param path Destination.
 * @param meta JSON-serializable metadata (step, RNG, DataLoader position…).
 * @param m AdamW first moments.
 * @param v AdamW second moments (same length as m).
 */
export async function writeStateFile(path: string, meta: StateMeta, m: Float32Array, v: Float32Array): Promise<void> {
  const json = new TextEncoder().encode(JSON.stringify(meta));
  const jsonPadded = new Uint8Array(Math.ceil(json.length / 4) * 4);
  jsonPadded.set(json);
  const header = new Int32Array(256);
  header[0] = STATE_MAGIC;
  header[1] = 1;
  header[2] = m.length % 2 ** 31;
  header[3] = Math.floor(m.length / 2 ** 31);
  header[4] = json.length;
  const bytes = (a: Float32Array | Int32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength).slice();
  await writeFileAtomic(path, [bytes(header), jsonPadded, bytes(m), bytes(v)]);
}

/**
 * Reads and validates a state file for a model of `paramCount` parameters.
 *
 * @param path State file.
 * @param paramCount Expected parameter count (from the model checkpoint).
 * @returns Metadata, m and v.
 */
export async function readStateFile(
  path: string,
  paramCount: number,
): Promise<{ meta: StateMeta; m: Float32Array; v: Float32Array }> {
  const data = await readFileOrFail(path, "training state");
  if (data.length < HEADER_BYTES) throw new UserError(`${path}: truncated training state (${data.length} bytes)`);
  const header = new Int32Array(data.buffer, data.byteOffset, 256).slice();
  if (header[0] !== STATE_MAGIC) throw new UserError(`${path}: not an llm.ts training state (bad magic ${header[0]})`);
  if (header[1] !== 1) throw new UserError(`${path}: unsupported training state version ${header[1]}`);
  const count = header[2] + header[3] * 2 ** 31;
  if (count !== paramCount) {
    throw new UserError(`${path}: holds state for ${count} parameters, the model has ${paramCount}`);
  }
  const jsonBytes = header[4];
  const jsonPadded = Math.ceil(jsonBytes / 4) * 4;
  const expected = HEADER_BYTES + jsonPadded + 8 * count;
  if (jsonBytes < 0 || data.length !== expected) {
    throw new UserError(`${path}: size ${data.length} bytes, expected ${expected} from its header (truncated?)`);
  }
  let meta: StateMeta;
  try {
    meta = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(data.subarray(1024, 1024 + jsonBytes)));
  } catch {
    throw new UserError(`${path}: corrupt metadata block`);
  }
  const floats = new Float32Array(
    data.buffer.slice(data.byteOffset + HEADER_BYTES + jsonPadded, data.byteOffset + expected),
  );
  return { meta, m: floats.subarray(0, count), v: floats.subarray(count) };
}
