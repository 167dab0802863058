/**
 * The data loader, with llm.c's semantics (`llmc/dataloader.h`): shards matched by a glob, sorted; each batch is
 * B·T+1 consecutive tokens, giving `inputs` (the first B·T) and `targets` (the same shifted by one). A shard of
 * n tokens holds `floor((n - 1) / (P·B·T))` windows, window w starting at token `w·P·B·T + rank·B·T` (P processes).
 *
 * - Eval mode (`shuffle: false`): windows in file order, shard after shard; after the last it starts over.
 * - Train mode (`shuffle: true`): llm.c's `-shuffle` order. An MT19937 (PyTorch's seeding, default seed 42 +
 *   rank as in llm.c) permutes the shard order at the start of every epoch (cumulatively: the previous epoch's
 *   order is shuffled again) and the window order of every shard when the shard is entered, with llm.c's
 *   Fisher-Yates; so the batches come in the same order as llm.c's for the same files, B, T and seed.
 *
 * The position is a plain JSON object ({@linkcode DataLoaderState}) for training resume.
 *
 * @module
 */
import { UserError } from "../util/errors.ts";
import { MT19937, randomPermutation } from "./_mt19937.ts";
import { decodeShard, readShardCount } from "./shard.ts";
import { expandShardPattern, FileSource, type ShardSource } from "./shard_files.ts";

export { expandShardPattern } from "./shard_files.ts";

/** Options of {@linkcode DataLoader.open}. */
export interface DataLoaderOptions {
  /** Batch size B (rows per batch). */
  B: number;
  /** Sequence length T (tokens per row). */
  T: number;
  /** Train mode: shuffled order per epoch. Default false (eval mode: in order). */
  shuffle?: boolean;
  /** Shuffle seed; the generator is seeded with `seed + processRank`. Default 42, as llm.c. */
  seed?: number;
  /** This process's rank for data-parallel training. Default 0. */
  processRank?: number;
  /** Number of processes sharing each window of P·B·T tokens. Default 1. */
  numProcesses?: number;
  /**
   * The model's vocabulary size V: when given, `next()` fails with a UserError naming the shard and the token's
   * position for a token id ≥ V (instead of the model rejecting a batch it cannot trace to a file). Default: no check.
   */
  vocabSize?: number;
}

/** Where a data loader is: the next window to serve. JSON-serializable; pass it to {@linkcode DataLoader.restore}. */
export interface DataLoaderState {
  /** Completed passes over all shards. */
  epoch: number;
  /** Position in this epoch's shard order. */
  shard: number;
  /** Windows of the current shard already served. */
  sample: number;
  /** This epoch's shard order (indices into the sorted file list; the identity in eval mode). */
  shardOrder: number[];
  /** The generator's position just before the current shard's windows were shuffled. */
  rng: { seed: number; draws: number };
}

/** One batch; the arrays are the loader's own buffers, overwritten by the next call. */
export interface Batch {
  /** (B, T) token ids. */
  inputs: Int32Array;
  /** (B, T) the next token after each input. */
  targets: Int32Array;
}

/**
 * Reads batches from llm.c token shards. Open with {@linkcode DataLoader.open}; close with `close()` or `using`.
 *
 * @example
 * ```ts
 * import { DataLoader } from "./dataloader.ts";
 * import { writeShard } from "./shard.ts";
 * const dir = await Deno.makeTempDir();
 * await writeShard(`${dir}/x_train.bin`, Array.from({ length: 100 }, (_, i) => i));
 * using loader = await DataLoader.open(`${dir}/x_train*.bin`, { B: 2, T: 4 });
 * const { inputs, targets } = loader.next();
 * console.log(inputs, targets); // Int32Array [0, 1, ..., 7], Int32Array [1, 2, ..., 8]
 * ```
 */
export class DataLoader {
  /** The shard files, sorted. */
  readonly files: readonly string[];
  /** Tokens in each shard. */
  readonly shardTokens: readonly number[];
  /** Batch size. */
  readonly B: number;
  /** Sequence length. */
  readonly T: number;
  /** Whether batches are shuffled (train mode). */
  readonly shuffle: boolean;
  /** (B, T) inputs of the latest batch. */
  readonly inputs: Int32Array;
  /** (B, T) targets of the latest batch. */
  readonly targets: Int32Array;

  #windows: number[];
  #stride: number;
  #rankOffset: number;
  #seed: number;
  #rng!: MT19937;
  #rngAtShard = 0;
  #epoch = 0;
  #shard = 0;
  #sample = 0;
  #order: number[] = [];
  #intra: Int32Array | null = null;
  #source: ShardSource;
  #tokens: Uint16Array;
  #batch: Batch;
  #vocabSize: number;

  private constructor(files: string[], counts: number[], options: Required<DataLoaderOptions>, source: ShardSource) {
    const { B, T, numProcesses, processRank } = options;
    this.#source = source;
    this.files = files;
    this.shardTokens = counts;
    this.B = B;
    this.T = T;
    this.shuffle = options.shuffle;
    this.#stride = numProcesses * B * T;
    this.#rankOffset = processRank * B * T;
    this.#windows = counts.map((n) => Math.floor((n - 1) / this.#stride));
    this.#seed = (options.seed + processRank) >>> 0;
    this.#vocabSize = options.vocabSize;
    this.inputs = new Int32Array(B * T);
    this.targets = new Int32Array(B * T);
    this.#batch = { inputs: this.inputs, targets: this.targets };
    this.#tokens = new Uint16Array(B * T + 1);
    this.reset();
  }

  /**
   * Finds the shards, validates every header and checks that each shard holds at least one window.
   *
   * @param pattern A file or a glob on the file name, e.g. `data/tinyshakespeare/tiny_shakespeare_train*.bin`.
   * @param options B, T, mode and seed.
   * @returns A loader positioned at the first batch.
   */
  static async open(pattern: string, options: DataLoaderOptions): Promise<DataLoader> {
    const opts = checkedOptions(options);
    const files = await expandShardPattern(pattern);
    const counts: number[] = [];
    for (const file of files) counts.push(checkShardSize(file, await readShardCount(file), opts));
    return new DataLoader(files, counts, opts, new FileSource(files));
  }

  /**
   * A loader over shards already in memory (fetched by a web page, say), with the same order and checks as
   * {@linkcode DataLoader.open} over the same files: pass them sorted by name, as `open` sorts the files.
   *
   * @param shards Each shard's name (for messages) and whole file.
   * @param options B, T, mode and seed.
   * @returns A loader positioned at the first batch.
   * @example
   * ```ts
   * import { DataLoader } from "./dataloader.ts";
   * import { encodeShard } from "./shard.ts";
   * const bytes = encodeShard(Array.from({ length: 100 }, (_, i) => i));
   * const loader = DataLoader.fromShards([{ name: "x_train.bin", bytes }], { B: 2, T: 4 });
   * if (loader.next().targets[0] !== 1) throw new Error("targets are inputs shifted by one");
   * ```
   */
  static fromShards(shards: readonly { name: string; bytes: Uint8Array }[], options: DataLoaderOptions): DataLoader {
    const opts = checkedOptions(options);
    if (shards.length === 0) throw new UserError("Data loader: no shards given");
    const tokens = shards.map((s) => decodeShard(s.name, s.bytes));
    const counts = tokens.map((t, i) => checkShardSize(shards[i].name, t.length, opts));
    const source: ShardSource = {
      read: (shard, offset, into) => into.set(tokens[shard].subarray(offset, offset + into.length)),
      close: () => {},
    };
    return new DataLoader(shards.map((s) => s.name), counts, opts, source);
  }

  /** Total tokens in all shards. */
  get numTokens(): number {
    return this.shardTokens.reduce((a, b) => a + b, 0);
  }

  /** Windows (batches) in one pass over all shards. */
  get windowsPerEpoch(): number {
    return this.#windows.reduce((a, b) => a + b, 0);
  }

  /** Completed passes over all shards. */
  get epoch(): number {
    return this.#epoch;
  }

  /**
   * Reads the next batch into `inputs`/`targets`, moving to the next shard (and epoch) when one is used up.
   *
   * @returns The loader's `inputs` and `targets`.
   */
  next(): Batch {
    if (this.#sample >= this.#windows[this.#order[this.#shard]]) this.#advance();
    const fileIndex = this.#order[this.#shard];
    const window = this.#intra ? this.#intra[this.#sample] : this.#sample;
    const offset = window * this.#stride + this.#rankOffset;
    this.#source.read(fileIndex, offset, this.#tokens);
    const n = this.B * this.T;
    const tokens = this.#tokens;
    for (let i = 0; i <= n; i++) {
      if (tokens[i] >= this.#vocabSize) {
        throw new UserError(
          `${this.files[fileIndex]}: token ${tokens[i]} at position ${offset + i} (counting from 0 after the ` +
            `header) is outside the model's vocabulary [0, ${this.#vocabSize}); re-tokenize the data for this model`,
        );
      }
    }
    for (let i = 0; i < n; i++) {
      this.inputs[i] = tokens[i];
      this.targets[i] = tokens[i + 1];
    }
    this.#sample++;
    return this.#batch;
  }

  /** Back to the very first batch, as just after `open` (in train mode: epoch 0 and the seed's first order). */
  reset(): void {
    this.#rng = new MT19937(this.#seed);
    this.#epoch = 0;
    this.#order = this.files.map((_, i) => i);
    this.#startEpoch();
  }

  /**
   * The position, as a plain JSON-serializable object.
   *
   * @returns A copy of the state.
   */
  state(): DataLoaderState {
    return {
      epoch: this.#epoch,
      shard: this.#shard,
      sample: this.#sample,
      shardOrder: [...this.#order],
      rng: { seed: this.#seed, draws: this.#rngAtShard },
    };
  }

  /**
   * Continues from a saved position: the next batches are those that followed when `state()` was taken.
   *
   * @param state From `state()` of a loader on the same shards, B, T, mode and seed.
   */
  restore(state: DataLoaderState): void {
    const n = this.files.length;
    const order = state.shardOrder;
    const valid = Array.isArray(order) && order.length === n && new Set(order).size === n &&
      order.every((i) => Number.isInteger(i) && i >= 0 && i < n) &&
      Number.isInteger(state.shard) && state.shard >= 0 && state.shard < n &&
      Number.isInteger(state.sample) && state.sample >= 0 && state.sample <= this.#windows[order[state.shard]] &&
      Number.isInteger(state.epoch) && state.epoch >= 0 && state.rng?.seed === this.#seed &&
      Number.isInteger(state.rng.draws) && state.rng.draws >= 0;
    if (!valid) {
      throw new UserError(
        `Data loader state does not fit these ${n} shard(s) (${this.files[0]}...) with this seed; ` +
          "resume with the same data, batch size and sequence length",
      );
    }
    this.#epoch = state.epoch;
    this.#order = [...order];
    this.#rng = new MT19937(this.#seed);
    this.#rng.skip(state.rng.draws);
    this.#enterShard(state.shard);
    this.#sample = state.sample;
  }

  /** Closes the open shard file. */
  close(): void {
    this.#source.close();
  }

  /** Same as `close()`, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }

  #startEpoch(): void {
    if (this.shuffle) randomPermutation(this.#order, this.#rng);
    this.#enterShard(0);
  }

  #enterShard(shard: number): void {
    this.#shard = shard;
    this.#sample = 0;
    this.#rngAtShard = this.#rng.draws;
    if (!this.shuffle) return;
    const windows = this.#windows[this.#order[shard]];
    this.#intra = Int32Array.from({ length: windows }, (_, i) => i);
    randomPermutation(this.#intra, this.#rng);
  }

  #advance(): void {
    if (this.#shard === this.files.length - 1) {
      this.#epoch++;
      this.#startEpoch();
    } else {
      this.#enterShard(this.#shard + 1);
    }
  }
}

/** The options with their defaults, checked. */
function checkedOptions(options: DataLoaderOptions): Required<DataLoaderOptions> {
  const opts: Required<DataLoaderOptions> = {
    shuffle: false,
    seed: 42,
    processRank: 0,
    numProcesses: 1,
    vocabSize: 0x10000, // every uint16 token id
    ...options,
  };
  for (const key of ["B", "T", "numProcesses", "vocabSize"] as const) {
    if (!Number.isInteger(opts[key]) || opts[key] < 1) {
      throw new UserError(`Data loader: ${key} must be a positive integer, got ${opts[key]}`);
    }
  }
  if (!Number.isInteger(opts.processRank) || opts.processRank < 0 || opts.processRank >= opts.numProcesses) {
    throw new UserError(`Data loader: processRank must be in [0, ${opts.numProcesses}), got ${opts.processRank}`);
  }
  return opts;
}

/** A shard's token count, if it holds at least one window. */
function checkShardSize(name: string, n: number, opts: Required<DataLoaderOptions>): number {
  const need = opts.numProcesses * opts.B * opts.T + 1;
  if (n < need) {
    const what = opts.numProcesses > 1 ? `P*B*T+1 = ${need} (P=${opts.numProcesses}, ` : `B*T+1 = ${need} (`;
    throw new UserError(
      `${name}: ${n} token${n === 1 ? "" : "s"}, fewer than ${what}B=${opts.B}, T=${opts.T}); ` +
        "use a smaller batch or sequence length",
    );
  }
  return n;
}
