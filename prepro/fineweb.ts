/**
 * FineWeb / FineWeb-Edu (Hugging Face's Parquet files, or JSON Lines with a `text` field) -> llm.c token shards,
 * as llm.c's `dev/data/fineweb.py` makes them: every document is EOT (50256) followed by its ordinary-text tokens;
 * the token stream is cut into shards of exactly `shardSize` tokens (the last one shorter), a document that
 * crosses a boundary filling the shard and continuing at the start of the next; shard 0 is val
 * (`fineweb_val_000000.bin`), the others train (`fineweb_train_000001.bin`, …). (llm.c assumes no document is
 * longer than a shard; here one that is simply spans several.)
 *
 * Inputs stream through: Parquet row group by row group, JSON Lines line by line; tokenizing runs on a pool of
 * Workers. Each shard is written to a temporary name and renamed when complete; if the run fails on bad input,
 * the shards it already completed are removed too, so a failed run leaves nothing behind.
 *
 * @module
 */
import { join } from "node:path";
import { GPT2_VOCAB_SIZE } from "../model/config.ts";
import { UsageError, UserError } from "../util/errors.ts";
import { errorText } from "../util/fs.ts";
import { type DatasetResult, type DatasetShard, JOB_CHARS, OrderedJobs, textChunks } from "./_dataset.ts";
import { jsonlTexts } from "./_jsonl.ts";
import { openParquetText, parquetTexts } from "./_parquet.ts";
import { ProgressLine } from "./_progress.ts";
import { ShardWriter } from "./_shard_writer.ts";
import { TokenPool } from "./_token_pool.ts";
import { expandShardPattern } from "./shard_files.ts";
import { writeLlmcTokenizer } from "./tokenizer.ts";

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
  // Every Parquet footer is read first: a missing column fails before any work, and the sizes give an ETA.
  const sizes: number[] = [];
  let rows = 0;
  for (const f of files) {
    if (f.endsWith(".parquet")) {
      const pf = await openParquetText(f);
      pf.close();
      sizes.push(pf.bytes);
      rows += pf.rows;
    } else {
      sizes.push((await Deno.stat(f).catch(() => ({ size: 0 }))).size);
    }
  }
  const totalBytes = sizes.reduce((a, b) => a + b, 0);

  const pool = new TokenPool(options.workers);
  const progress = new ProgressLine(options.progress);
  const jobs = new OrderedJobs<Uint16Array>(2 * pool.size);
  const shards: DatasetShard[] = [];
  let writer: ShardWriter | undefined;
  let documents = 0, tokens = 0, doneBytes = 0, fileIndex = 0;
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
  const submit = async (texts: string[], fraction: number) => {
    documents += texts.length;
    for (const chunk of textChunks(texts, JOB_CHARS)) {
      await jobs.add(pool.tokenize(chunk, false), async (t) => {
        await put(t);
        show(fraction);
      });
    }
  };
  try {
    for (; fileIndex < files.length; fileIndex++) {
      const f = files[fileIndex];
      if (f.endsWith(".parquet")) {
        const pf = await openParquetText(f);
        try {
          for await (const g of parquetTexts(pf)) {
            await submit(g.texts, pf.rows > 0 ? (g.firstRow + g.texts.length) / pf.rows : 1);
          }
        } finally {
          pf.close();
        }
      } else {
        for await (const b of jsonlTexts(f, JOB_CHARS)) await submit(b.texts, b.bytesRead / (sizes[fileIndex] || 1));
      }
      doneBytes += sizes[fileIndex];
    }
    await jobs.drain();
    if (documents === 0) throw new UserError(`${files.join(", ")}: no documents found`);
    if (writer) await closeShard();
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
  await writeLlmcTokenizer(tokenizer.path);
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
