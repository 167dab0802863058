/**
 * FineWeb / FineWeb-Edu (Hugging Face's Parquet files, or JSON Lines with a `text` field) -> llm.c token shards,
 * as llm.c's `dev/data/fineweb.py` makes them: every document is EOT (50256) followed by its ordinary-text tokens;
 * the token stream is cut into shards of exactly `shardSize` tokens (the last one shorter), a document that
 * crosses a boundary filling the shard and continuing at the start of the next; shard 0 is val
 * (`fineweb_val_000000.bin`), the others train (`fineweb_train_000001.bin`, …). (llm.c assumes no document is
 * longer than a shard; here one that is simply spans several.)
 *
 * Inputs stream through, decoded and tokenized on a pool of Workers: each Worker reads and decodes the Parquet
 * row groups it is given from the file itself; JSON Lines are gunzipped and cut into runs of whole lines here and
 * parsed by the Workers. This thread only writes the tokens, in input order, with a bounded number of jobs in
 * flight. Each shard is written to a temporary name and renamed when complete; if the run fails on bad input,
 * the shards it already completed are removed too, so a failed run leaves nothing behind.
 *
 * @module
 */
import { join } from "node:path";
import { GPT2_VOCAB_SIZE } from "../model/config.ts";
import { UsageError, UserError } from "../util/errors.ts";
import { errorText, writeFileAtomic } from "../util/fs.ts";
import { type DatasetResult, type DatasetShard, OrderedJobs } from "./_dataset.ts";
import { jsonlChunks } from "./_jsonl.ts";
import { ProgressLine } from "./_progress.ts";
import { ShardWriter } from "./_shard_writer.ts";
import { TokenPool, type TokenResult, type TokenTask } from "./_token_pool.ts";
import { expandShardPattern } from "./shard_files.ts";

export type { DatasetResult, DatasetShard } from "./_dataset.ts";

/** llm.c's shard size: 100M tokens. */
export const FINEWEB_SHARD_SIZE = 100_000_000;
/** File names this reads: Parquet, JSON Lines, gzipped JSON Lines. */
const INPUT = /\.(parquet|jsonl|jsonl\.gz)$/;

/** Options of {@linkcode preproFineWeb}. */
export interface PreproFineWebOptions {
  /** Output directory. Default `data/fineweb/`. */
  outDir?: string;
  /** Tokens per shard. Default {@linkcode FINEWEB_SHARD_SIZE}. */
  shardSize?: number;
  /** Tokenizing Workers. Default `navigator.hardwareConcurrency`. */
  workers?: number;
  /** Draw a progress line on stderr. Default: when stderr is a terminal. */
  progress?: boolean;
}

/**
 * The input files of `inputs`, in order: a directory gives its `.parquet`, `.jsonl` and `.jsonl.gz` files sorted
 * by name; a pattern with `*`, `?` or `[...]` in its file name gives its matches sorted; a file is itself.
 *
 * @param inputs Paths, directories or patterns.
 * @returns The files.
 * @example
 * ```ts
 * import { fineWebInputs } from "./fineweb.ts";
 * const dir = await Deno.makeTempDir();
 * for (const f of ["b.jsonl", "a.parquet", "notes.txt"]) await Deno.writeTextFile(`${dir}/${f}`, "");
 * console.log((await fineWebInputs([dir])).map((p) => p.slice(dir.length + 1))); // ["a.parquet", "b.jsonl"]
 * ```
 */
export async function fineWebInputs(inputs: string[]): Promise<string[]> {
  const files: string[] = [];
  for (const input of inputs) {
    const info = await Deno.stat(input).catch(() => undefined);
    if (info?.isDirectory) {
      const names: string[] = [];
      try {
        for await (const e of Deno.readDir(input)) if (e.isFile && INPUT.test(e.name)) names.push(e.name);
      } catch (err) {
        throw new UserError(`${input}: cannot list FineWeb files (${errorText(err)})`);
      }
      if (names.length === 0) throw new UserError(`${input}: no .parquet, .jsonl or .jsonl.gz files in this directory`);
      files.push(...names.sort().map((n) => join(input, n)));
    } else if (info === undefined && /[*?[]/.test(input)) {
      files.push(...await expandShardPattern(input));
    } else if (info === undefined) {
      throw new UserError(`${input}: cannot read FineWeb input (no such file or directory)`);
    } else {
      files.push(input);
    }
  }
  for (const f of files) {
    if (!INPUT.test(f)) throw new UserError(`${f}: not a .parquet, .jsonl or .jsonl.gz file`);
  }
  return files;
}

/**
 * Tokenizes FineWeb documents into llm.c shards plus `gpt2_tokenizer.bin` (see the module doc).
 *
 * @param inputs Files, directories or patterns (see {@linkcode fineWebInputs}).
 * @param options Output directory, shard size, Workers.
 * @returns What was written.
 * @example
 * ```ts
 * import { preproFineWeb } from "./fineweb.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/docs.jsonl`, '{"text": "Hello world"}\n{"text": "Bye"}\n');
 * const r = await preproFineWeb([`${dir}/docs.jsonl`], { outDir: dir, shardSize: 4, workers: 1 });
 * console.log(r.shards.map((s) => s.path.slice(dir.length + 1))); // ["fineweb_val_000000.bin", "fineweb_train_000001.bin"]
 * ```
 */
export async function preproFineWeb(inputs: string[], options: PreproFineWebOptions = {}): Promise<DatasetResult> {
  const start = performance.now();
  const shardSize = options.shardSize ?? FINEWEB_SHARD_SIZE;
  if (!Number.isInteger(shardSize) || shardSize < 1 || shardSize > 0x7fffffff) {
    throw new UsageError(`--shard-size must be an integer from 1 to 2147483647, got ${shardSize}`);
  }
  const outDir = options.outDir ?? join("data", "fineweb");
  const files = await fineWebInputs(inputs);
  if (files.length === 0) throw new UsageError("No FineWeb inputs given; pass files, a directory or a pattern");
  const pool = new TokenPool(options.workers); // its Workers load the tokenizer while the footers are read
  const tokenizerFile = pool.llmcTokenizerBytes();
  tokenizerFile.catch(() => {}); // awaited below; a failed run closes the pool first
  // Every Parquet footer is read first: a missing column fails before any work, and the sizes give an ETA.
  const sizes: number[] = [];
  const rowGroups: number[][] = []; // rows of each row group of each Parquet file
  let rows = 0;
  try {
    for (const f of files) {
      if (f.endsWith(".parquet")) {
        // Loaded here, not at the top: every `gpt2` command imports this module, and the Parquet reader's npm
        // packages take ~30 ms to load.
        const pf = await (await import("./_parquet.ts")).openParquetText(f);
        pf.close();
        sizes.push(pf.bytes);
        rows += pf.rows;
        rowGroups.push(pf.metadata.row_groups.map((g) => Number(g.num_rows)));
      } else {
        sizes.push((await Deno.stat(f).catch(() => ({ size: 0 }))).size);
        rowGroups.push([]);
      }
    }
  } catch (err) {
    pool.close();
    throw err;
  }
  const totalBytes = sizes.reduce((a, b) => a + b, 0);

  const progress = new ProgressLine(options.progress);
  const jobs = new OrderedJobs<TokenResult>(2 * pool.size);
  const shards: DatasetShard[] = [];
  let writer: ShardWriter | undefined;
  let documents = 0, tokens = 0, doneBytes = 0, fileIndex = 0;
  let tokenizerBytes: Uint8Array;
  const show = (fileFraction: number) =>
    progress.update(
      `${fileIndex}/${files.length} files, ${documents.toLocaleString("en-US")} documents` +
        (rows > 0 ? ` (Parquet: ${rows.toLocaleString("en-US")} rows)` : ""),
      tokens,
      totalBytes > 0 ? (doneBytes + fileFraction * sizes[fileIndex]) / totalBytes : undefined,
    );
  const put = async (t: Uint16Array) => {
    for (let at = 0; at < t.length;) {
      if (!writer) {
        const split = shards.length === 0 ? "val" : "train";
        writer = await ShardWriter.create(
          join(outDir, `fineweb_${split}_${String(shards.length).padStart(6, "0")}.bin`),
        );
      }
      const n = Math.min(t.length - at, shardSize - writer.tokens);
      await writer.append(t.subarray(at, at + n));
      at += n;
      tokens += n;
      if (writer.tokens === shardSize) await closeShard();
    }
  };
  const closeShard = async () => {
    const w = writer!;
    writer = undefined;
    await w.finish();
    shards.push({ path: w.path, tokens: w.tokens, split: shards.length === 0 ? "val" : "train" });
  };
  const submit = (task: TokenTask, fraction: number) =>
    jobs.add(pool.run(task), async (r: TokenResult) => {
      documents += r.documents;
      await put(r.tokens);
      show(fraction);
    });
  try {
    try {
      for (; fileIndex < files.length; fileIndex++) {
        const path = files[fileIndex];
        if (path.endsWith(".parquet")) {
          const groups = rowGroups[fileIndex];
          const fileRows = groups.reduce((a, b) => a + b, 0);
          for (let rowGroup = 0, firstRow = 0; rowGroup < groups.length; firstRow += groups[rowGroup++]) {
            const fraction = fileRows > 0 ? (firstRow + groups[rowGroup]) / fileRows : 1;
            await submit({ kind: "parquet", path, rowGroup, firstRow }, fraction);
          }
        } else {
          for await (const c of jsonlChunks(path)) {
            await submit(
              { kind: "jsonl", path, bytes: c.bytes, firstLine: c.firstLine },
              c.bytesRead / (sizes[fileIndex] || 1),
            );
          }
        }
        doneBytes += sizes[fileIndex];
      }
    } catch (err) {
      throw (await jobs.firstError()) ?? err; // an earlier input's error comes first
    }
    await jobs.drain();
    if (documents === 0) throw new UserError(`${files.join(", ")}: no documents found`);
    if (writer) await closeShard();
    tokenizerBytes = await tokenizerFile;
  } catch (err) {
    jobs.clear();
    await writer?.abort();
    for (const s of shards) await Deno.remove(s.path).catch(() => {});
    throw err;
  } finally {
    pool.close();
    progress.done();
  }
  const tokenizer = { path: join(outDir, "gpt2_tokenizer.bin"), tokens: GPT2_VOCAB_SIZE };
  await writeFileAtomic(tokenizer.path, tokenizerBytes);
  return {
    dataset: "fineweb",
    sources: files,
    bytes: totalBytes,
    documents,
    tokens,
    shards,
    tokenizer,
    workers: pool.size,
    seconds: Math.round(performance.now() - start) / 1000,
  };
}
