/**
 * Writes the dataset fixtures of tests/prepro/{tinystories,fineweb}_test.ts into tests/testdata/datasets/.
 *
 * FineWeb (here, with npm hyparquet-writer as pinned in deno.json):
 *   fineweb/000_00000.parquet   14 documents in 4 row groups (4, 4, 4, 2), snappy pages, columns text, id, url
 *   fineweb/001_00000.parquet   6 documents in 2 row groups (2, 4), gzip pages, one document of ~400 tokens
 *   fineweb/002_extra.jsonl.gz  5 documents, a blank line and a CRLF line end, gzipped
 *   fineweb/003_extra.jsonl     3 documents, no newline at the end
 *   fineweb/notes.txt           not an input: a directory input skips it
 *   fineweb_expected.json       {"documents": [...]}: every text in input order (files sorted by name)
 * TinyStories: runs `python3 tests/testdata/make_datasets.py` (Python's own random.shuffle and str.strip).
 *
 * Deterministic; run from the repository root: deno run -A tests/testdata/make_datasets.ts
 */
import { gzipSync } from "node:zlib";
import { parquetWriteBuffer } from "hyparquet-writer";

const OUT = new URL("./datasets/", import.meta.url);
const FW = new URL("fineweb/", OUT);

let seed = 12345;
/** A small LCG, so the documents do not depend on any library's random numbers. */
function rand(n: number): number {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return (seed >>> 8) % n;
}
const WORDS = ["The", "web", "page", "says", "hello", "to", "the", "world.", "Données", "über", "naïve", "日本語",
  "🙂", "<|endoftext|>", "don't", "we'll", "\n", "\n\n", "  ", "2024", "3.14", "tokens"];
function doc(words: number): string {
  return Array.from({ length: words }, () => WORDS[rand(WORDS.length)]).join(" ");
}

const a = Array.from({ length: 14 }, (_, i) => (i === 5 ? "" : doc(3 + rand(25))));
const b = Array.from({ length: 6 }, (_, i) => (i === 2 ? doc(220) : doc(2 + rand(12))));
const c = Array.from({ length: 5 }, () => doc(2 + rand(15)));
const d = Array.from({ length: 3 }, () => doc(2 + rand(10)));

await Deno.remove(FW, { recursive: true }).catch(() => {});
await Deno.mkdir(FW, { recursive: true });
function parquet(texts: string[], rowGroupSize: number[], codec: "SNAPPY" | "GZIP"): Uint8Array {
  return new Uint8Array(parquetWriteBuffer({
    columnData: [
      { name: "text", data: texts, type: "STRING" },
      { name: "id", data: texts.map((_, i) => `<urn:uuid:${i}>`), type: "STRING" },
      { name: "url", data: texts.map((_, i) => `https://example.com/${i}`), type: "STRING" },
    ],
    rowGroupSize,
    codec,
    compressors: { GZIP: (bytes: Uint8Array) => new Uint8Array(gzipSync(bytes, { level: 9 })) },
  }));
}
await Deno.writeFile(new URL("000_00000.parquet", FW), parquet(a, [4, 4, 4, 2], "SNAPPY"));
await Deno.writeFile(new URL("001_00000.parquet", FW), parquet(b, [2, 4], "GZIP"));
const lines = c.map((text) => JSON.stringify({ text, id: "x" }));
lines.splice(2, 0, "");
const jsonl = lines.map((l, i) => l + (i === 1 ? "\r\n" : "\n")).join("");
// gzip header without a timestamp (mtime 0), so reruns write the same bytes
await Deno.writeFile(new URL("002_extra.jsonl.gz", FW), new Uint8Array(gzipSync(new TextEncoder().encode(jsonl))));
await Deno.writeTextFile(new URL("003_extra.jsonl", FW), d.map((text) => JSON.stringify({ text })).join("\n"));
await Deno.writeTextFile(new URL("notes.txt", FW), "not an input\n");
await Deno.writeTextFile(
  new URL("fineweb_expected.json", OUT),
  JSON.stringify({ documents: [...a, ...b, ...c, ...d] }, null, 1) + "\n",
);

const py = new Deno.Command("python3", { args: [new URL("./make_datasets.py", import.meta.url).pathname] });
const { code } = await py.spawn().status;
if (code !== 0) throw new Error("python3 tests/testdata/make_datasets.py failed");
