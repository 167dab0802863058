/** The streaming tar reader against archives written by Python's `tarfile` (GNU and pax formats). */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { ByteReader, tarFiles } from "../../prepro/_tar.ts";
import { UserError } from "../../util/errors.ts";

const DATA = fileURLToPath(new URL("../testdata/datasets/", import.meta.url));

function reader(bytes: Uint8Array, chunk = 700): ByteReader {
  // Odd-sized chunks, so headers and entries straddle reads.
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      for (let at = 0; at < bytes.length; at += chunk) c.enqueue(bytes.slice(at, at + chunk));
      c.close();
    },
  });
  return new ByteReader(stream, (err) => new UserError(`x.tar: ${err}`));
}

async function read(bytes: Uint8Array, chunk?: number): Promise<Map<string, Uint8Array>> {
  const files = new Map<string, Uint8Array>();
  for await (const f of tarFiles(reader(bytes, chunk), "x.tar", () => true)) files.set(f.path, f.data);
  return files;
}

async function directoryFiles(): Promise<Map<string, Uint8Array>> {
  const files = new Map<string, Uint8Array>();
  for (const name of [...Deno.readDirSync(`${DATA}tinystories`)].map((e) => e.name)) {
    if (name === "sub") files.set("sub/data99.json", await Deno.readFile(`${DATA}tinystories/sub/data99.json`));
    else files.set(name, await Deno.readFile(`${DATA}tinystories/${name}`));
  }
  return files;
}

async function gunzip(path: string): Promise<Uint8Array> {
  const stream = (await Deno.open(path)).readable.pipeThrough(new DecompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

Deno.test("tarFiles reads GNU long names (././@LongLink) and pax path records, skipping directories", async () => {
  const want = await directoryFiles();
  const gnu = await read(await gunzip(`${DATA}tinystories.tar.gz`));
  const pax = await read(await Deno.readFile(`${DATA}tinystories_pax.tar`), 513);
  for (const files of [gnu, pax]) {
    assert.deepEqual([...files.keys()].sort(), [...want.keys()].sort());
    for (const [path, data] of want) assert.deepEqual(files.get(path), data, path);
  }
  assert.ok([...gnu.keys()].some((p) => p.length > 100), "a long name came through");
  assert.ok(gnu.has("data01.json"), "the './' prefix is dropped");
  // Archive order, not name order (make_datasets.py writes them shuffled).
  assert.deepEqual([...gnu.keys()].slice(0, 3), ["data03.json", "notes.txt", "data01.json"]);
});

Deno.test("tarFiles: only wanted entries are read; a bad checksum or a cut entry is a one-line UserError", async () => {
  const tar = await gunzip(`${DATA}tinystories.tar.gz`);
  const wanted: string[] = [];
  for await (const f of tarFiles(reader(tar), "x.tar", (p) => p.endsWith(".txt"))) wanted.push(f.path);
  assert.deepEqual(wanted, ["notes.txt"]);

  const damaged = tar.slice();
  damaged[512 + 10] ^= 0x20; // a name byte of the second header
  await assert.rejects(
    read(damaged),
    /^UserError: x\.tar: not a tar archive, or a corrupt one \(bad header checksum at byte 512\)/,
  );
  await assert.rejects(read(new TextEncoder().encode("just some text\n".repeat(50))), /bad header checksum at byte 0/);
  await assert.rejects(read(tar.subarray(0, 2000)), /^UserError: x\.tar: truncated tar archive/);
  assert.deepEqual([...(await read(new Uint8Array(0))).keys()], [], "an empty stream is an empty archive");
});
