/**
 * llm.c debug states (what `test_gpt2` checks a model against): a 256-int32 header — magic 20240327, version 2, B,
 * T, then zeros — followed by x (B·T int32 inputs), y (B·T int32 targets), the expected logits (B·T·V fp32, NOT
 * padded to Vp), the expected mean loss (one fp32), and the expected gradients of all 16 parameter tensors (fp32,
 * llm.c's order, wte padded to Vp rows). The file does not store V: it is checked against the model's through the
 * file length.
 *
 * @module
 */
import { readFileOrFail, writeFileAtomic } from "../util/fs.ts";
import { UserError } from "../util/errors.ts";
import type { GPT2Config } from "./config.ts";
import type { ParameterTensors } from "./checkpoint.ts";
import { type ParameterName, parameterSpecs } from "./tensors.ts";

/** First header int of an llm.c debug state. */
export const DEBUG_STATE_MAGIC = 20240327;
const HEADER_BYTES = 1024;

/** A debug state's contents. */
export interface DebugState {
  /** Batch size. */
  B: number;
  /** Sequence length. */
  T: number;
  /** Input tokens (B·T). */
  inputs: Int32Array;
  /** Target tokens (B·T). */
  targets: Int32Array;
  /** Expected logits (B,T,V), unpadded. */
  logits: Float32Array;
  /** Expected mean loss. */
  loss: number;
  /** Expected parameter gradients (wte with Vp rows). */
  grads: ParameterTensors;
}

/**
 * Reads a debug state and checks it against a model config: magic, version, B and T positive, T ≤ maxSeqLen, the file
 * length matching B, T and the model's V and parameter count, and every token < V.
 *
 * @param path The file.
 * @param config The model it belongs to.
 * @returns The state.
 * @throws UserError naming the file when any check fails.
 */
export async function readDebugState(path: string, config: GPT2Config): Promise<DebugState> {
  const bytes = await readFileOrFail(path, "debug state");
  const fail = (what: string): never => {
    throw new UserError(`${path}: ${what}`);
  };
  if (bytes.length < HEADER_BYTES) {
    fail(`${bytes.length} bytes is too short for an llm.c debug state (1024-byte header)`);
  }
  const h = new DataView(bytes.buffer, bytes.byteOffset, HEADER_BYTES);
  const int = (i: number) => h.getInt32(4 * i, true);
  if (int(0) !== DEBUG_STATE_MAGIC) {
    fail(`bad magic number ${int(0)}, expected ${DEBUG_STATE_MAGIC} (not an llm.c debug state)`);
  }
  if (int(1) !== 2) fail(`unsupported debug state version ${int(1)}; supported: 2`);
  const B = int(2);
  const T = int(3);
  if (B < 1 || T < 1) fail(`bad header: B=${B}, T=${T} must be positive`);
  if (T > config.maxSeqLen) fail(`T=${T} exceeds the model's max sequence length ${config.maxSeqLen}`);
  const V = config.vocabSize;
  const N = B * T;
  const specs = parameterSpecs(config);
  const paramCount = specs.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
  const expected = HEADER_BYTES + 4 * (2 * N + N * V + 1 + paramCount);
  if (bytes.length !== expected) {
    // Name the likely cause: logits for another vocabulary, or gradients of another model size.
    const logitsBytes = bytes.length - HEADER_BYTES - 4 * (2 * N + 1 + paramCount);
    const impliedV = logitsBytes / (4 * N);
    const cause = Number.isInteger(impliedV) && impliedV > 0
      ? `its logits are for a vocabulary of ${impliedV}, the model's is ${V}`
      : `it does not hold B=${B}, T=${T} for this model (V=${V}, ${paramCount} parameters)`;
    fail(`${bytes.length} bytes but ${expected} expected: ${cause}`);
  }
  const buffer = bytes.byteOffset % 4 === 0 ? bytes.buffer : bytes.slice().buffer;
  let offset = bytes.byteOffset % 4 === 0 ? bytes.byteOffset + HEADER_BYTES : HEADER_BYTES;
  const take = <A>(make: (b: ArrayBufferLike, o: number, n: number) => A, n: number): A => {
    const a = make(buffer, offset, n);
    offset += 4 * n;
    return a;
  };
  const inputs = take((b, o, n) => new Int32Array(b, o, n), N);
  const targets = take((b, o, n) => new Int32Array(b, o, n), N);
  const logits = take((b, o, n) => new Float32Array(b, o, n), N * V);
  const loss = take((b, o, n) => new Float32Array(b, o, n), 1)[0];
  const grads = {} as ParameterTensors;
  for (const spec of specs) {
    grads[spec.name as ParameterName] = take(
      (b, o, n) => new Float32Array(b, o, n),
      spec.shape.reduce((a, c) => a * c),
    );
  }
  for (const [what, tokens] of [["input", inputs], ["target", targets]] as const) {
    const bad = tokens.findIndex((x) => x < 0 || x >= V);
    if (bad >= 0) fail(`${what} token ${tokens[bad]} at position ${bad} is outside the model's vocabulary [0, ${V})`);
  }
  return { B, T, inputs, targets, logits, loss, grads };
}

/**
 * Writes a debug state atomically (llm.c's format, readable by its `test_gpt2`).
 *
 * @param path Destination.
 * @param config The model's shape (for the tensor sizes).
 * @param state The contents; logits unpadded (B·T·V).
 */
export async function writeDebugState(path: string, config: GPT2Config, state: DebugState): Promise<void> {
  const { B, T } = state;
  const N = B * T;
  const check = (what: string, got: number, want: number) => {
    if (got !== want) throw new RangeError(`debug state ${what}: expected ${want} values, got ${got}`);
  };
  check("inputs", state.inputs.length, N);
  check("targets", state.targets.length, N);
  check("logits", state.logits.length, N * config.vocabSize);
  const header = new Int32Array(HEADER_BYTES / 4);
  header.set([DEBUG_STATE_MAGIC, 2, B, T]);
  const bytesOf = (a: Int32Array | Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const chunks = [header, state.inputs, state.targets, state.logits, new Float32Array([state.loss])].map(bytesOf);
  for (const spec of parameterSpecs(config)) {
    const g = state.grads[spec.name as ParameterName];
    check(`gradient ${spec.name}`, g.length, spec.shape.reduce((a, b) => a * b));
    chunks.push(bytesOf(g));
  }
  await writeFileAtomic(path, chunks);
}
