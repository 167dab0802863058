/**
 * TinyStories (Eldan & Li, 2023; the Hugging Face archive `TinyStories_all_data.tar.gz`) -> `TinyStories_val.bin`
 * and `TinyStories_train.bin`, as llm.c's `dev/data/tinystories.py` makes them for GPT-2, plus `gpt2_tokenizer.bin`.
 *
 * The rule: the `*.json` shards (each a JSON array of objects with a `story` string), sorted by name; the first is
 * val, the others train, in name order. Each shard's stories are shuffled as Python's
 * `random.Random(1337 + i).shuffle` does, `i` being the shard's index within its split (so val and the first train
 * shard both use 1337); each story is stripped with Python's `str.strip()`, preceded by EOT (50256) and encoded as
 * ordinary text. (llm.c concatenates train shards in the order its worker processes finish; here it is name order,
 * so the output is reproducible.) Shards are tokenized over a pool of Workers; files stream through (the archive
 * is decompressed as it is read), so memory holds a shard or two at a time.
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { GPT2_VOCAB_SIZE } from "../model/config.ts";
import { UserError } from "../util/errors.ts";
import { errorText } from "../util/fs.ts";
import { isUrl } from "./_source.ts";
import { downloadOnce } from "./_download.ts";
import { type DatasetResult, decodeUtf8, JOB_CHARS, jsonType, OrderedJobs, textChunks } from "./_dataset.ts";
import { ProgressLine } from "./_progress.ts";
import { PythonRandom } from "./_python.ts";
import { ShardWriter } from "./_shard_writer.ts";
import { ByteReader, tarFiles } from "./_tar.ts";
import { TokenPool } from "./_token_pool.ts";
import { writeLlmcTokenizer } from "./tokenizer.ts";

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
  count: number;
  sources: string[];
  bytes: number;
  shards(): AsyncGenerator<ShardBytes>;
}

/**
 * Tokenizes TinyStories into llm.c's two shards and `gpt2_tokenizer.bin` (see the module doc). Nothing is written
 * under a final name unless the whole run succeeds.
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
  const source = await openShards(from);
  if (source.count < 2) {
    throw new UserError(
      `${from}: ${source.count} *.json shard${source.count === 1 ? "" : "s"} found; TinyStories needs at least 2 ` +
        "(the first is val, the others train)",
    );
  }
  const pool = new TokenPool(options.workers);
  const progress = new ProgressLine(options.progress);
  const jobs = new OrderedJobs<Uint16Array>(2 * pool.size);
  const writers: ShardWriter[] = [];
  let documents = 0, tokens = 0, shardsDone = 0;
  const show = (force = false) =>
    progress.update(
      `${shardsDone}/${source.count} shards, ${documents.toLocaleString("en-US")} stories`,
      tokens,
      shardsDone / source.count,
      force,
    );
  try {
    writers.push(await ShardWriter.create(join(outDir, "TinyStories_val.bin")));
    writers.push(await ShardWriter.create(join(outDir, "TinyStories_train.bin")));
    let index = 0;
    for await (const shard of source.shards()) {
      const writer = writers[index === 0 ? 0 : 1];
      const stories = shuffledStories(shard, TINYSTORIES_SEED + (index === 0 ? 0 : index - 1));
      documents += stories.length;
      for (const chunk of textChunks(stories, JOB_CHARS)) {
        await jobs.add(pool.tokenize(chunk, true), async (t) => {
          await writer.append(t);
          tokens += t.length;
          show();
        });
      }
      await jobs.add(Promise.resolve(new Uint16Array(0)), () => {
        shardsDone++;
        show(true);
      });
      index++;
    }
    await jobs.drain();
    for (const w of writers) await w.finish();
  } catch (err) {
    jobs.clear();
    for (const w of writers) await w.abort();
    throw err;
  } finally {
    pool.close();
    progress.done();
  }
  const tokenizer = { path: join(outDir, "gpt2_tokenizer.bin"), tokens: GPT2_VOCAB_SIZE };
  await writeLlmcTokenizer(tokenizer.path);
  const [val, train] = writers;
  return {
    dataset: "tinystories",
    sources: source.sources,
    bytes: source.bytes,
    documents,
    tokens,
    shards: [
      { path: val.path, tokens: val.tokens, split: "val" },
      { path: train.path, tokens: train.tokens, split: "train" },
    ],
    tokenizer,
    workers: pool.size,
    seconds: Math.round(performance.now() - start) / 1000,
  };
}

/**
 * Parses one shard, checks that every element has a string `story`, and shuffles the stories as
 * `random.Random(seed).shuffle(data)` would shuffle the elements.
 */
function shuffledStories(shard: ShardBytes, seed: number): string[] {
  let data: unknown;
  try {
    data = JSON.parse(decodeUtf8(shard.data, shard.label));
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw new UserError(`${shard.label}: invalid JSON (${(err as Error).message})`);
  }
  if (!Array.isArray(data)) {
    throw new UserError(`${shard.label}: expected a JSON array of {"story": ...} objects, got ${jsonType(data)}`);
  }
  const stories: string[] = new Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const story = (data[i] as { story?: unknown } | null)?.story;
    if (typeof story !== "string") {
      const what = data[i] === null || typeof data[i] !== "object" || Array.isArray(data[i])
        ? `is ${jsonType(data[i])}, not an object`
        : story === undefined
        ? `has no "story" field`
        : `has a "story" that is ${jsonType(story)}, not a string`;
      throw new UserError(`${shard.label}: element ${i} of the array ${what}`);
    }
    stories[i] = story;
  }
  new PythonRandom(seed).shuffle(stories);
  return stories;
}

/** Python's `glob("*.json")`: no directories, no hidden files. */
function isShardName(path: string): boolean {
  return !path.includes("/") && !path.startsWith(".") && path.endsWith(".json");
}

/** A directory of shards, or a `.tar.gz` / `.tar` archive holding them at its top level. */
async function openShards(from: string): Promise<ShardSource> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(from);
  } catch (err) {
    throw new UserError(`${from}: cannot read TinyStories archive (${errorText(err)})`);
  }
  if (info.isDirectory) return await directoryShards(from);
  const names: string[] = [];
  const list = (path: string) => {
    if (isShardName(path)) names.push(path);
    return false; // a listing: no entry is read
  };
  for await (const _ of tarFiles(await openArchive(from), from, list)) { /* nothing is yielded */ }
  const sorted = [...names].sort();
  const twice = sorted.find((n, i) => i > 0 && sorted[i - 1] === n);
  if (twice) throw new UserError(`${from}: the archive holds ${twice} twice`);
  const rank = new Map(sorted.map((n, i) => [n, i]));
  return {
    count: sorted.length,
    sources: [from],
    bytes: info.size,
    async *shards() {
      // Shards arriving before their turn wait here (none do in an archive listed in name order).
      const early = new Map<number, ShardBytes>();
      let next = 0;
      for await (const f of tarFiles(await openArchive(from), from, isShardName)) {
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

/** The archive's tar bytes as a stream: gunzipped when it starts with gzip's magic bytes. */
async function openArchive(path: string): Promise<ByteReader> {
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
  const stream = gzip ? file.readable.pipeThrough(new DecompressionStream("gzip")) : file.readable;
  return new ByteReader(
    stream,
    (err) => new UserError(`${path}: ${gzip ? "corrupt gzip data" : "cannot read"} (${errorText(err)})`),
  );
}
