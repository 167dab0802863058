/**
 * `deno task bundle`'s promise: `dist/gpt2.js` is one file that runs from any directory, CPU Workers included.
 * The bundle is built into a temporary directory and run from another one, so nothing of the checkout (no
 * deno.json, no `cpu/worker.ts` beside it) can be found: `--help`, `prepro text`, a 3-step CPU train and a
 * generate from its checkpoint.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const decoder = new TextDecoder();

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function deno(args: string[], cwd: string): Promise<Run> {
  const out = await new Deno.Command(Deno.execPath(), { args, cwd, stdout: "piped", stderr: "piped" }).output();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

// `deno bundle` fetches esbuild from npm the first time; without a network and a cache that is the only way it
// fails for reasons outside this project.
const OFFLINE = /esbuild|npm|registry|network|dns|connect|fetch|download/i;

Deno.test("dist/gpt2.js: one file that runs prepro, CPU train and generate from another directory", async () => {
  const buildDir = await Deno.makeTempDir({ prefix: "llmts_bundle_" });
  const runDir = await Deno.makeTempDir({ prefix: "llmts_bundle_run_" });
  try {
    const bundle = `${buildDir}/gpt2.js`;
    const built = await deno(["bundle", "--quiet", "-o", bundle, "cli.ts"], ROOT);
    if (built.code !== 0 && OFFLINE.test(built.stderr)) {
      console.warn(`SKIPPED bundle smoke test: deno bundle could not fetch esbuild (offline?):\n${built.stderr}`);
      return;
    }
    assert.equal(built.code, 0, built.stderr);
    assert.deepEqual([...Deno.readDirSync(buildDir)].map((e) => e.name), ["gpt2.js"], "the bundle is one file");

    const help = await deno(["run", "-A", bundle, "--help"], runDir);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /Usage: gpt2 <command>/);

    await Deno.copyFile(`${ROOT}tests/testdata/prepro/small.txt`, `${runDir}/small.txt`);
    const prepro = await deno(["run", "-A", bundle, "prepro", "text", "small.txt"], runDir);
    assert.equal(prepro.code, 0, prepro.stderr);
    for (const f of ["small_train.bin", "small_val.bin", "gpt2_tokenizer.bin"]) {
      assert.ok((await Deno.stat(`${runDir}/data/small/${f}`)).isFile, `prepro did not write ${f}`);
    }

    const trainArgs = ["-i", "data/small/small_train.bin", "-j", "data/small/small_val.bin"];
    trainArgs.push("-e", "layers=2,heads=2,channels=32,seq=32", "-b", "2", "-t", "16", "-x", "3", "-v", "0", "-s", "0");
    const train = await deno(["run", "-A", bundle, "train", ...trainArgs, "--device", "cpu", "-o", "out"], runDir);
    assert.equal(train.code, 0, train.stdout + train.stderr);
    assert.equal(train.stdout.split("\n").filter((l) => /^step \d+\/3 \| loss /.test(l)).length, 3, train.stdout);
    // With more than one core the CPU backend starts Workers, which load the bundle itself.
    const threads = Number(/device cpu \((\d+) threads?/.exec(train.stdout)?.[1]);
    assert.equal(threads, navigator.hardwareConcurrency, train.stdout);
    if (threads < 2) console.warn("note: one core, so the bundle's CPU Workers were not exercised");

    const gen = await deno(
      ["run", "-A", bundle, "generate", "-e", "out/model_00000003.bin", "-n", "4", "--device", "cpu"],
      runDir,
    );
    assert.equal(gen.code, 0, gen.stderr);
    assert.match(gen.stderr, /4 tokens in/);
  } finally {
    await Deno.remove(buildDir, { recursive: true });
    await Deno.remove(runDir, { recursive: true });
  }
});

Deno.test("gpt2 serve --bundle: serves a prebuilt page bundle (what a compiled gpt2 embeds) with no node: import", async () => {
  const dir = await Deno.makeTempDir({ prefix: "llmts_page_bundle_" });
  try {
    const bundle = `${dir}/app.js`;
    const built = await deno(["bundle", "--quiet", "--platform", "browser", "-o", bundle, "web/app.ts"], ROOT);
    if (built.code !== 0 && OFFLINE.test(built.stderr)) {
      console.warn(`SKIPPED page bundle test: deno bundle could not fetch esbuild (offline?):\n${built.stderr}`);
      return;
    }
    assert.equal(built.code, 0, built.stderr);
    const script = await Deno.readTextFile(bundle);
    // The page loads in a browser: no module of its graph may import node: builtins (util/paths.ts exists for that).
    assert.doesNotMatch(script, /from\s*["']node:|import\(\s*["']node:|require\(\s*["']node:/);
    const marker = `\n// prebuilt ${crypto.randomUUID()}\n`;
    await Deno.writeTextFile(bundle, script + marker);
    const server = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `${ROOT}cli.ts`, "serve", "--port", "0", "--bundle", bundle, "--data", dir],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    try {
      const reader = server.stdout.getReader();
      const first = decoder.decode((await reader.read()).value);
      reader.releaseLock();
      const url = first.match(/http:\/\/[\d.]+:\d+\//)?.[0];
      assert.ok(url, `serve printed no URL: ${first}`);
      assert.match(first, new RegExp(`script from ${bundle.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}`));
      const served = await fetch(`${url}app.js`);
      assert.equal(served.headers.get("cross-origin-embedder-policy"), "require-corp");
      assert.ok((await served.text()).endsWith(marker), "the prebuilt file is served as is, not a new bundle");
      const html = await (await fetch(url)).text();
      assert.match(html, /<script type="module" src="\/app.js">/);
    } finally {
      server.kill();
      await server.status;
      await server.stderr.cancel();
    }
    const missing = await deno(["run", "-A", "cli.ts", "serve", "--port", "0", "--bundle", `${dir}/none.js`], ROOT);
    assert.equal(missing.code !== 0, true);
    assert.match(missing.stderr, /--bundle: cannot read .*none\.js/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
