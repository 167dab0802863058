/**
 * TinyStories (Eldan & Li, 2023; the Hugging Face archive `TinyStories_all_data.tar.gz`) -> `TinyStories_val.bin`
 * and `TinyStories_train.bin`, as llm.c's `dev/data/tinystories.py` makes them for GPT-2, plus `gpt2_tokenizer.bin`.
 *
 * The rule: the `*.json` shards (each a JSON array of objects with a `story` string), sorted by name; the first is
 * val, the others train, in name order. Each shard's stories are shuffled as Python's
 * `random.Random(1337 + i).shuffle` does, `i` being the shard's index within its split (so val and the first train
 * shard both use 1337); each story is stripped with Python's `str.strip()`, preceded by EOT (50256) and encoded as
 * ordinary text. (llm.c concatenates train shards in the order its worker processes finish; here it is name order,
 * so the output is reproducible.) Files stream through (the archive is decompressed and untarred as it is read,
 * here); each shard's bytes go to one of a pool of Workers, which decodes, parses, shuffles, strips and tokenizes
 * it, and the shards' tokens are written in name order. Memory holds a few shards at a time.
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { GPT2_VOCAB_SIZE } from "../model/config.ts";
import { UserError } from "../util/errors.ts";
import { errorText, writeFileAtomic } from "../util/fs.ts";
import { isUrl } from "./_source.ts";
import { downloadOnce } from "./_download.ts";
import { type DatasetResult, OrderedJobs } from "./_dataset.ts";
import { ProgressLine } from "./_progress.ts";
import { ShardWriter } from "./_shard_writer.ts";
import { ByteReader, tarFiles } from "./_tar.ts";
import { TokenPool, type TokenResult } from "./_token_pool.ts";

export type { DatasetResult } from "./_dataset.ts";

/** Where llm.c downloads the archive from. */
export const TINYSTORIES_URL =
  "https://huggingface.co/datasets/roneneldan/TinyStories/resolve/main/TinyStories_all_data.tar.gz";
/** llm.c's shuffle seed of a split's first shard (shard i of a split uses this + i). */
export const TINYSTORIES_SEED = 1337;

/** Options of {@linkcode preproTinyStories}. */
export interface PreproTinyStoriesOptions {
  /**
   * The `.tar.gz` archive (a local path, a `file://` URL, or an `http(s)://` URL, downloaded into `outDir` first
   * and kept there, so a second run does not download it again), or a directory of its `*.json` shards. Default:
   * download {@linkcode TINYSTORIES_URL}.
   */
  from?: string;
  /** Output directory. Default `data/tinystories/`. */
  outDir?: string;
  /** Tokenizing Workers. Default `navigator.hardwareConcurrency`. */
  workers?: number;
  /** Draw a progress line on stderr. Default: when stderr is a terminal. */
  progress?: boolean;
}

/** One `*.json` shard, read whole. */
interface ShardBytes {
  /** The file, as messages name it: `dir/data00.json` or `archive.tar.gz:data00.json`. */
  label: string;
  data: Uint8Array;
}

/** The shards of a directory or an archive, in name order. */
interface ShardSource {
  /** How many; undefined for an archive read in one pass (known at its end). */
  count: number | undefined;
  sources: string[];
  bytes: number;
  /** Share of the input read so far, for the ETA when `count` is unknown. */
  fraction?: () => number;
  shards(): AsyncGenerator<ShardBytes>;
}

/** An archive read in one pass met a shard out of name order: it is read again, listed first. */
class OutOfOrder extends Error {}

/**
 * Tokenizes TinyStories into llm.c's two shards and `gpt2_tokenizer.bin` (see the module doc). Nothing is written
 * under a final name unless the whole run succeeds.
 *
 * An archive is read once if its shards come in name order (each shard's seed and split are then known when it
 * arrives); if one does not, or the pass fails, the archive is listed and read again, and the shards that arrive
 * early wait for their turn.
 *
 * @param options Source, output directory, Workers.
 * @returns What was written.
 * @example
 * ```ts
 * import { preproTinyStories } from "./tinystories.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.mkdir(`${dir}/json`);
 * await Deno.writeTextFile(`${dir}/json/data00.json`, JSON.stringify([{ story: "Once upon a time." }]));
 * await Deno.writeTextFile(`${dir}/json/data01.json`, JSON.stringify([{ story: " The end.\u001f" }]));
 * const r = await preproTinyStories({ from: `${dir}/json`, outDir: dir, workers: 1 });
 * console.log(r.shards.map((s) => `${s.split} ${s.tokens}`)); // ["val 6", "train 4"]
 * ```
 */
export async function preproTinyStories(options: PreproTinyStoriesOptions = {}): Promise<DatasetResult> {
  const start = performance.now();
  const outDir = options.outDir ?? join("data", "tinystories");
  let from = options.from ?? TINYSTORIES_URL;
  if (isUrl(from) && !from.startsWith("file:")) {
    const local = join(outDir, new URL(from).pathname.split("/").pop() || "TinyStories_all_data.tar.gz");
    await downloadOnce(from, local, "download it yourself and pass the local copy with --from PATH");
    from = local;
  } else if (from.startsWith("file:")) {
    from = fileURLToPath(from);
  }
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(from);
  } catch (err) {
    throw new UserError(`${from}: cannot read TinyStories archive (${errorText(err)})`);
  }
  const pool = new TokenPool(options.workers); // its Workers load the tokenizer while the archive is opened
  const tokenizerFile = pool.llmcTokenizerBytes();
  tokenizerFile.catch(() => {}); // awaited below; a failed run closes the pool first
  const progress = new ProgressLine(options.progress);
  let run: ShardsRun | undefined;
  let source: ShardSource;
  try {
    if (!info.isDirectory) {
      source = archiveInOrder(from, info.size);
      run = await tokenizeShards(pool, source, { from, outDir, progress }).catch(() => {
        pool.dropQueued(); // that pass's shards still waiting for a Worker
        return undefined;
      });
    }
    if (run === undefined) {
      source = info.isDirectory ? await directoryShards(from) : await listedArchive(from, info.size);
      run = await tokenizeShards(pool, source, { from, outDir, progress });
    }
    const tokenizer = { path: join(outDir, "gpt2_tokenizer.bin"), tokens: GPT2_VOCAB_SIZE };
    await writeFileAtomic(tokenizer.path, await tokenizerFile);
    const [val, train] = run.writers;
    return {
      dataset: "tinystories",
      sources: source!.sources,
      bytes: source!.bytes,
      documents: run.documents,
      tokens: val.tokens + train.tokens,
      shards: [
        { path: val.path, tokens: val.tokens, split: "val" },
        { path: train.path, tokens: train.tokens, split: "train" },
      ],
      tokenizer,
      workers: pool.size,
      seconds: Math.round(performance.now() - start) / 1000,
    };
  } finally {
    pool.close();
    progress.done();
  }
}

/** The two shards written, and the stories in them. */
interface ShardsRun {
  writers: ShardWriter[];
  documents: number;
}

/**
 * One pass over the shards: each goes to the pool as it arrives, and the tokens are written in shard order. On
 * failure both outputs are removed and the first error in shard order is thrown.
 */
async function tokenizeShards(
  pool: TokenPool,
  source: ShardSource,
  { from, outDir, progress }: { from: string; outDir: string; progress: ProgressLine },
): Promise<ShardsRun> {
  const tooFew = (count: number) =>
    new UserError(
      `${from}: ${count} *.json shard${count === 1 ? "" : "s"} found; TinyStories needs at least 2 ` +
        "(the first is val, the others train)",
    );
  if (source.count !== undefined && source.count < 2) throw tooFew(source.count);
  const jobs = new OrderedJobs<TokenResult>(2 * pool.size);
  const writers: ShardWriter[] = [];
  let documents = 0, tokens = 0, shardsDone = 0;
  const show = () =>
    progress.update(
      `${shardsDone}${source.count === undefined ? "" : `/${source.count}`} shards, ` +
        `${documents.toLocaleString("en-US")} stories`,
      tokens,
      source.count === undefined ? source.fraction?.() : shardsDone / source.count,
      true,
    );
  try {
    let index = 0;
    try {
      for await (const shard of source.shards()) {
        if (index === 0) { // created once a shard is there, so a bad archive leaves no directory behind
          writers.push(await ShardWriter.create(join(outDir, "TinyStories_val.bin")));
          writers.push(await ShardWriter.create(join(outDir, "TinyStories_train.bin")));
        }
        const writer = writers[index === 0 ? 0 : 1];
        const seed = TINYSTORIES_SEED + (index === 0 ? 0 : index - 1);
        await jobs.add(pool.run({ kind: "stories", label: shard.label, bytes: shard.data, seed }), async (r) => {
          await writer.append(r.tokens);
          documents += r.documents;
          tokens += r.tokens.length;
          shardsDone++;
          show();
        });
        index++;
      }
    } catch (err) {
      if (err instanceof OutOfOrder) throw err; // read again at once: no need to wait for the jobs
      throw (await jobs.firstError()) ?? err; // an earlier shard's error comes first
    }
    if (index < 2) throw tooFew(index);
    await jobs.drain();
    for (const w of writers) await w.finish();
  } catch (err) {
    jobs.clear();
    for (const w of writers) await w.abort();
    throw err;
  }
  return { writers, documents };
}

/** Python's `glob("*.json")`: no directories, no hidden files. */
function isShardName(path: string): boolean {
  return !path.includes("/") && !path.startsWith(".") && path.endsWith(".json");
}

/** An archive read once, its shards taken in archive order; one out of name order throws {@linkcode OutOfOrder}. */
function archiveInOrder(from: string, size: number): ShardSource {
  let read = () => 0;
  return {
    count: undefined,
    sources: [from],
    bytes: size,
    fraction: () => size > 0 ? read() / size : 0,
    async *shards() {
      const archive = await openArchive(from);
      read = archive.read;
      let last: string | undefined;
      for await (const f of tarFiles(archive.reader, from, isShardName)) {
        if (last !== undefined && f.path <= last) throw new OutOfOrder(`${from}: ${f.path} comes after ${last}`);
        last = f.path;
        yield { label: `${from}:${f.path}`, data: f.data };
      }
    },
  };
}

/** An archive listed first (one pass), then read in a second pass, its shards reordered into name order. */
async function listedArchive(from: string, size: number): Promise<ShardSource> {
  const names: string[] = [];
  const list = (path: string) => {
    if (isShardName(path)) names.push(path);
    return false; // a listing: no entry is read
  };
  for await (const _ of tarFiles((await openArchive(from)).reader, from, list)) { /* nothing is yielded */ }
  const sorted = [...names].sort();
  const twice = sorted.find((n, i) => i > 0 && sorted[i - 1] === n);
  if (twice) throw new UserError(`${from}: the archive holds ${twice} twice`);
  const rank = new Map(sorted.map((n, i) => [n, i]));
  return {
    count: sorted.length,
    sources: [from],
    bytes: size,
    async *shards() {
      // Shards arriving before their turn wait here.
      const early = new Map<number, ShardBytes>();
      let next = 0;
      for await (const f of tarFiles((await openArchive(from)).reader, from, isShardName)) {
        early.set(rank.get(f.path)!, { label: `${from}:${f.path}`, data: f.data });
        for (let s = early.get(next); s !== undefined; s = early.get(next)) {
          early.delete(next++);
          yield s;
        }
      }
    },
  };
}

async function directoryShards(dir: string): Promise<ShardSource> {
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) if (e.isFile && isShardName(e.name)) names.push(e.name);
  } catch (err) {
    throw new UserError(`${dir}: cannot list TinyStories shards (${errorText(err)})`);
  }
  const paths = names.sort().map((n) => join(dir, n));
  let bytes = 0;
  for (const p of paths) bytes += (await Deno.stat(p).catch(() => ({ size: 0 }))).size;
  return {
    count: paths.length,
    sources: paths,
    bytes,
    async *shards() {
      for (const p of paths) {
        try {
          yield { label: p, data: await Deno.readFile(p) };
        } catch (err) {
          throw new UserError(`${p}: cannot read TinyStories shard (${errorText(err)})`);
        }
      }
    },
  };
}

/** An opened archive: its tar bytes (gunzipped when it starts with gzip's magic bytes), and how much is read. */
interface OpenArchive {
  reader: ByteReader;
  /** Bytes of the file read so far. */
  read: () => number;
}

async function openArchive(path: string): Promise<OpenArchive> {
  let file: Deno.FsFile;
  const magic = new Uint8Array(2);
  try {
    file = await Deno.open(path);
    const n = await file.read(magic);
    await file.seek(0, Deno.SeekMode.Start);
    if (n !== 2) magic.fill(0);
  } catch (err) {
    throw new UserError(`${path}: cannot read TinyStories archive (${errorText(err)})`);
  }
  const gzip = magic[0] === 0x1f && magic[1] === 0x8b;
  let read = 0;
  const counted = file.readable.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array<ArrayBuffer>>({
      transform(chunk, out) {
        read += chunk.length;
        out.enqueue(chunk as Uint8Array<ArrayBuffer>); // Deno.FsFile.readable yields ArrayBuffer-backed chunks
      },
    }),
  );
  const stream = gzip ? counted.pipeThrough(new DecompressionStream("gzip")) : counted;
  const reader = new ByteReader(
    stream,
    (err) => new UserError(`${path}: ${gzip ? "corrupt gzip data" : "cannot read"} (${errorText(err)})`),
  );
  return { reader, read: () => read };
}
