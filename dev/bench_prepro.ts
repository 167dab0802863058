/**
 * Throughput of `gpt2 prepro tinystories` and `gpt2 prepro fineweb` on synthetic inputs: a TinyStories-like
 * `.tar.gz` of JSON shards, a FineWeb-like Parquet file (snappy, several row groups) and the same documents as
 * `.jsonl.gz`, each tokenized with 1 Worker and with one per core. Every run is its own process, so its peak RSS
 * (VmHWM, Workers included) is its own. Each configuration runs `--runs` times (default 2) and the fastest run is
 * reported. Prints input MB/s (uncompressed text), tokens/s, peak RSS, the CPU seconds of all the run's threads
 * (on a shared machine, wall time alone does not show whether Workers scale), and the speed-up of one Worker per
 * core over one Worker (the project's target on 2 cores: 1.7x or more for every input). A last row per input runs
 * one 1-Worker process per core at once: their combined throughput over one process's is what this machine allows
 * any parallel version of the same work (no shared state at all), so it is the ceiling to read the speed-up against.
 *
 *     deno run -A dev/bench_prepro.ts            # 24 MB of text per input (default), best of 2
 *     deno run -A dev/bench_prepro.ts --mb 8     # smaller
 *     deno run -A dev/bench_prepro.ts --runs 3   # best of 3
 *     deno run -A dev/bench_prepro.ts --keep DIR # write the inputs (and outputs) to DIR and keep them, for profiling
 *
 * `--cores` compares cores instead of Workers: the command itself, `deno run -A cli.ts prepro tinystories|fineweb
 * --from INPUT --out DIR --json` with its default Worker count (one per core the process may run on:
 * `navigator.hardwareConcurrency` follows the affinity mask, 1 under `taskset -c 0`), is run pinned to one core (the
 * first CPU of this process's affinity mask) and to all of them (the whole mask), `--runs` times each (default 5),
 * the two masks alternating which goes first. The inputs and the command are the same; only the mask differs. The
 * speed-up is the median over rounds of (1-core wall / N-core wall) of the two runs of one round, which saw the same
 * background.
 * Each run first waits (up to a minute) for the machine to be quiet, and the table gives the CPU seconds that other
 * processes used on those cores during each run (from `/proc/stat`), to tell a disturbed run apart. Wall time is
 * the whole process's, start-up included; "prepro s" is the command's own figure. Needs `taskset` and GNU
 * `/usr/bin/time` (for the peak RSS).
 *
 *     deno run -A dev/bench_prepro.ts --cores            # 24 MB of text per input, 5 rounds
 *     deno run -A dev/bench_prepro.ts --cores --runs 9   # more rounds
 *     taskset -c 2,6 deno run -A dev/bench_prepro.ts --cores   # CPU 2 against CPUs 2 and 6
 *     deno run -A dev/bench_prepro.ts --cores --inputs web.parquet,web.jsonl.gz   # only these inputs
 *
 * @module
 */
import { parquetWriteBuffer } from "hyparquet-writer";
import { preproTinyStories } from "../prepro/tinystories.ts";
import { preproFineWeb } from "../prepro/fineweb.ts";

const args = Deno.args;
if (args[0] === "--child") {
  // --child <dataset> <workers> <input> <out>
  const [, dataset, workers, input, out] = args;
  const r = dataset === "tinystories"
    ? await preproTinyStories({ from: input, outDir: out, workers: Number(workers), progress: false })
    : await preproFineWeb([input], { outDir: out, workers: Number(workers), progress: false });
  const status = await Deno.readTextFile("/proc/self/status").catch(() => "");
  const hwm = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? NaN) / 1024;
  // utime + stime of all threads: fields 14 and 15 of /proc/self/stat, in clock ticks of 1/100 s
  const stat = (await Deno.readTextFile("/proc/self/stat").catch(() => "")).split(") ").pop()!.split(" ");
  const cpuSeconds = (Number(stat[11]) + Number(stat[12])) / 100;
  console.log(JSON.stringify({ tokens: r.tokens, seconds: r.seconds, peakRssMB: hwm, cpuSeconds }));
  Deno.exit(0);
}

/** What a child run prints: its tokens, wall seconds, peak RSS and CPU seconds. */
interface ChildResult {
  tokens: number;
  seconds: number;
  peakRssMB: number;
  cpuSeconds: number;
}

const mbIndex = args.indexOf("--mb");
const targetBytes = (mbIndex >= 0 ? Number(args[mbIndex + 1]) : 24) * 1e6;
const cores = args.includes("--cores");
const runsIndex = args.indexOf("--runs");
const runs = Math.max(1, runsIndex >= 0 ? Number(args[runsIndex + 1]) : cores ? 5 : 2);

/** Zipf-like words from a fixed vocabulary (seeded LCG), so BPE sees repeats and rare words as real text does. */
let seed = 1;
const rand = () => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32;
const letters = "etaoinshrdlucmfwypvbgkjqxz";
const VOCAB = Array.from({ length: 20_000 }, () => {
  const n = 1 + Math.floor(rand() * 9);
  return Array.from({ length: n }, () => letters[Math.floor(rand() ** 1.5 * letters.length)]).join("");
});
function sentence(): string {
  const n = 5 + Math.floor(rand() * 15);
  const words = Array.from({ length: n }, () => VOCAB[Math.floor(VOCAB.length * rand() ** 3)]);
  words[0] = words[0][0].toUpperCase() + words[0].slice(1);
  return words.join(" ") + (rand() < 0.2 ? "!" : ".");
}
function documents(bytes: number, sentences: number): string[] {
  const docs: string[] = [];
  for (let total = 0; total < bytes;) {
    const d = Array.from({ length: 1 + Math.floor(rand() * sentences) }, sentence).join(rand() < 0.3 ? "\n\n" : " ");
    docs.push(d);
    total += d.length;
  }
  return docs;
}

/** A ustar header + padded body for one file. */
function tarEntry(name: string, data: Uint8Array): Uint8Array[] {
  const h = new Uint8Array(512);
  const put = (s: string, at: number) => h.set(new TextEncoder().encode(s), at);
  put(name, 0);
  put("0000644\0", 100);
  put("0000000\0", 108);
  put("0000000\0", 116);
  put(data.length.toString(8).padStart(11, "0") + "\0", 124);
  put("00000000000\0", 136);
  put("        ", 148);
  put("0", 156);
  put("ustar\x0000", 257);
  put((h.reduce((a, b) => a + b, 0)).toString(8).padStart(6, "0") + "\0 ", 148);
  return [h, data, new Uint8Array((512 - data.length % 512) % 512)];
}

async function gzip(parts: Uint8Array[]): Promise<Uint8Array> {
  const stream = new Blob(parts as BlobPart[]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

const keepIndex = args.indexOf("--keep");
const keep = keepIndex >= 0 ? args[keepIndex + 1] : undefined;
if (keep) await Deno.mkdir(keep, { recursive: true });
const dir = keep ?? await Deno.makeTempDir({ prefix: "bench_prepro_" });
try {
  const shards = 8;
  const parts: Uint8Array[] = [];
  let storyBytes = 0;
  for (let i = 0; i < shards; i++) {
    const stories = documents(targetBytes / shards, 6).map((story) => ({ story }));
    const json = new TextEncoder().encode(JSON.stringify(stories));
    storyBytes += stories.reduce((n, s) => n + s.story.length, 0);
    parts.push(...tarEntry(`data${String(i).padStart(2, "0")}.json`, json));
  }
  parts.push(new Uint8Array(1024));
  await Deno.writeFile(`${dir}/stories.tar.gz`, await gzip(parts));

  const docs = documents(targetBytes, 40);
  const textBytes = docs.reduce((n, d) => n + d.length, 0);
  const rowGroupSize = Math.ceil(docs.length / 12);
  await Deno.writeFile(
    `${dir}/web.parquet`,
    new Uint8Array(parquetWriteBuffer({ columnData: [{ name: "text", data: docs, type: "STRING" }], rowGroupSize })),
  );
  await Deno.writeFile(
    `${dir}/web.jsonl.gz`,
    await gzip([new TextEncoder().encode(docs.map((text) => JSON.stringify({ text })).join("\n"))]),
  );

  const inputs: Input[] = [
    ["tinystories", "stories.tar.gz", storyBytes],
    ["fineweb", "web.parquet", textBytes],
    ["fineweb", "web.jsonl.gz", textBytes],
  ];
  const inputsIndex = args.indexOf("--inputs");
  const only = inputsIndex >= 0 ? args[inputsIndex + 1].split(",") : inputs.map(([, file]) => file);
  const unknown = only.filter((file) => !inputs.some(([, f]) => f === file));
  if (unknown.length) throw new Error(`--inputs: no input ${unknown.join(", ")} (${inputs.map(([, f]) => f)})`);
  const chosen = inputs.filter(([, file]) => only.includes(file));
  await (cores ? compareCores(chosen) : compareWorkers(chosen));
} finally {
  if (!keep) await Deno.remove(dir, { recursive: true });
}

/** An input the bench made: the dataset command it is for, its file name in `dir`, its bytes of text. */
type Input = [dataset: string, file: string, textBytes: number];

/** 1 Worker, one per core, and one 1-Worker process per core at once, in this process's own cores. */
async function compareWorkers(inputs: Input[]): Promise<void> {
  const cpus = navigator.hardwareConcurrency;
  const load = (await Deno.readTextFile("/proc/loadavg").catch(() => "?")).split(" ")[0];
  console.log(
    `prepro throughput, ~${targetBytes / 1e6} MB of synthetic text per input, ${cpus} cores, load ${load}, ` +
      `best of ${runs}\n`,
  );
  console.log(
    "| dataset | input | file MB | text MB | workers | wall s | CPU s | text MB/s | tokens/s | peak RSS MB | vs 1 |",
  );
  console.log("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
  /** Runs `copies` child processes at once, `runs` times; the fastest round (by its slowest child) wins. */
  const best = async (dataset: string, file: string, workers: number, copies: number): Promise<ChildResult> => {
    let r: ChildResult | undefined;
    for (let run = 0; run < runs; run++) {
      const results = await Promise.all(Array.from({ length: copies }, async (_, copy) => {
        const child = ["run", "-A", new URL(import.meta.url).pathname, "--child", dataset, String(workers)];
        child.push(`${dir}/${file}`, `${dir}/out_${file}_${workers}_${copy}`);
        const out = await new Deno.Command(Deno.execPath(), { args: child, stderr: "inherit" }).output();
        if (!out.success) Deno.exit(1);
        return JSON.parse(new TextDecoder().decode(out.stdout).trim()) as ChildResult;
      }));
      const slowest = results.reduce((a, b) => (b.seconds > a.seconds ? b : a));
      const round = { ...slowest, cpuSeconds: results.reduce((n, x) => n + x.cpuSeconds, 0) };
      if (r === undefined || round.seconds < r.seconds) r = round;
    }
    return r!;
  };
  for (const [dataset, file, bytes] of inputs) {
    const fileMB = ((await Deno.stat(`${dir}/${file}`)).size / 1e6).toFixed(1);
    const one = await best(dataset, file, 1, 1);
    // Rows: 1 Worker; one per core; and (the machine's own ceiling for the speed-up) one 1-Worker process per
    // core at once, whose "vs 1" is their combined throughput over one process's.
    const rows: [string, ChildResult, number][] = [["1", one, 1]];
    if (cpus > 1) {
      rows.push([String(cpus), await best(dataset, file, cpus, 1), 1]);
      rows.push([`${cpus} processes × 1`, await best(dataset, file, 1, cpus), cpus]);
    }
    for (const [workers, r, copies] of rows) {
      const cells = [
        dataset,
        file,
        fileMB,
        (bytes / 1e6).toFixed(1),
        workers,
        r.seconds.toFixed(2),
        r.cpuSeconds.toFixed(1),
        (copies * bytes / 1e6 / r.seconds).toFixed(2),
        Math.round(copies * r.tokens / r.seconds).toLocaleString("en-US"),
        r.peakRssMB.toFixed(0),
        `${(copies * one.seconds / r.seconds).toFixed(2)}x`,
      ];
      console.log(`| ${cells.join(" | ")} |`);
    }
  }
}

/** One run of the `gpt2 prepro` command under a core mask. */
interface CommandRun {
  /** Wall seconds of the whole process, start-up included. */
  wall: number;
  /** The command's own `seconds` (from opening the input to the last shard written). */
  prepro: number;
  /** User + system CPU seconds of the process, all threads. */
  cpu: number;
  /** CPU seconds that other processes used on the mask's cores meanwhile. */
  others: number;
  peakRssMB: number;
  tokens: number;
  workers: number;
}

/** Busy CPU seconds so far of each CPU in `cpus` (user, nice, system, irq, softirq, steal; from `/proc/stat`). */
async function busySeconds(cpus: number[]): Promise<number> {
  const lines = (await Deno.readTextFile("/proc/stat")).split("\n");
  let ticks = 0;
  for (const cpu of cpus) {
    const f = lines.find((l) => l.startsWith(`cpu${cpu} `))!.trim().split(/\s+/).map(Number);
    ticks += f[1] + f[2] + f[3] + f[6] + f[7] + f[8];
  }
  return ticks / 100; // USER_HZ
}

/**
 * Waits (up to a minute) until other processes use less than a tenth of a core over half a second, so that a
 * round starts on a quiet machine; a round that others disturb anyway shows in the "others' CPU s" column.
 */
async function waitQuiet(cpus: number[]): Promise<void> {
  for (const deadline = Date.now() + 60_000; Date.now() < deadline;) {
    const busy = await busySeconds(cpus);
    await new Promise((resolve) => setTimeout(resolve, 500));
    if (await busySeconds(cpus) - busy < 0.05) return;
  }
}

/** Runs `deno run -A cli.ts prepro <dataset> --from <input> --out <dir> --json` pinned to `cpus`. */
async function runPinned(dataset: string, file: string, cpus: number[]): Promise<CommandRun> {
  const timeFile = `${dir}/time.txt`;
  const cli = new URL("../cli.ts", import.meta.url).pathname;
  const out = `${dir}/out_${file}_cores${cpus.length}`;
  await Deno.remove(out, { recursive: true }).catch(() => {});
  const command = [Deno.execPath(), "run", "-A", cli, "prepro", dataset, "--from", `${dir}/${file}`, "--out", out];
  const args = ["-c", cpus.join(","), "/usr/bin/time", "-o", timeFile, "-f", "%e %U %S %M", ...command, "--json"];
  const busy = await busySeconds(cpus);
  const child = await new Deno.Command("taskset", { args, cwd: new URL("..", import.meta.url), stderr: "inherit" })
    .output();
  const others = await busySeconds(cpus) - busy;
  if (!child.success) throw new Error(`taskset ${args.join(" ")} failed`);
  const r = JSON.parse(new TextDecoder().decode(child.stdout).trim()) as {
    tokens: number;
    seconds: number;
    workers: number;
  };
  const [wall, user, sys, rssKB] = (await Deno.readTextFile(timeFile)).trim().split("\n").pop()!.split(" ").map(Number);
  const cpu = user + sys;
  return {
    wall,
    prepro: r.seconds,
    cpu,
    others: Math.max(0, others - cpu),
    peakRssMB: rssKB / 1024,
    tokens: r.tokens,
    workers: r.workers,
  };
}

/**
 * The CPUs this process may run on (`Cpus_allowed_list` of /proc/self/status, e.g. "0-3,8"), so that the bench run
 * under `taskset -c 2,6` compares CPU 2 with CPUs 2 and 6 (two physical cores, not one core's hyperthreads).
 */
async function allowedCpus(): Promise<number[]> {
  const status = await Deno.readTextFile("/proc/self/status");
  const list = /Cpus_allowed_list:\s*(\S+)/.exec(status)?.[1];
  if (!list) throw new Error("/proc/self/status has no Cpus_allowed_list");
  return list.split(",").flatMap((range) => {
    const [first, last = first] = range.split("-").map(Number);
    return Array.from({ length: last - first + 1 }, (_, i) => first + i);
  });
}

/** The middle value (the mean of the two middle ones for an even count). */
function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** The command pinned to one core and to all of them, alternating (see the module doc). */
async function compareCores(inputs: Input[]): Promise<void> {
  const allowed = await allowedCpus();
  const n = allowed.length;
  if (n < 2) throw new Error(`--cores needs at least 2 cores to compare; this process may use ${n}`);
  const masks = [[allowed[0]], allowed];
  const load = (await Deno.readTextFile("/proc/loadavg").catch(() => "?")).split(" ")[0];
  console.log(
    `gpt2 prepro pinned to 1 core vs ${n} (taskset), default Workers, ~${targetBytes / 1e6} MB of synthetic text ` +
      `per input, ${runs} alternating rounds, medians; load ${load} at the start\n`,
  );
  console.log(
    "| dataset | input | cores | workers | wall s | prepro s | CPU s | others' CPU s | text MB/s | tokens/s | " +
      `peak RSS MB | ${n} cores vs 1 (min-max) |`,
  );
  console.log("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
  for (const [dataset, file, bytes] of inputs) {
    const results: CommandRun[][] = masks.map(() => []);
    for (let round = 0; round < runs; round++) {
      const order = round % 2 === 0 ? [0, 1] : [1, 0];
      for (const m of order) {
        await waitQuiet(masks[1]);
        results[m].push(await runPinned(dataset, file, masks[m]));
      }
    }
    const ratios = results[0].map((one, i) => one.wall / results[1][i].wall);
    for (let m = 0; m < masks.length; m++) {
      const rs = results[m];
      const wall = median(rs.map((r) => r.wall));
      const cells = [
        dataset,
        file,
        String(masks[m].length),
        String(rs[0].workers),
        wall.toFixed(2),
        median(rs.map((r) => r.prepro)).toFixed(2),
        median(rs.map((r) => r.cpu)).toFixed(2),
        median(rs.map((r) => r.others)).toFixed(2),
        (bytes / 1e6 / wall).toFixed(2),
        Math.round(rs[0].tokens / wall).toLocaleString("en-US"),
        median(rs.map((r) => r.peakRssMB)).toFixed(0),
        m === 0
          ? ""
          : `${median(ratios).toFixed(2)}x (${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)})`,
      ];
      console.log(`| ${cells.join(" | ")} |`);
    }
  }
}
