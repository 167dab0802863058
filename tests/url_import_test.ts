/**
 * `mod.ts` works when imported from a URL: the repository is served over HTTP on 127.0.0.1 and a script in a
 * temporary directory outside the repository (so no deno.json import map applies) imports it and uses it.
 */
import assert from "node:assert/strict";
import { extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const CONTENT_TYPES: Record<string, string> = {
  ".ts": "application/typescript",
  ".js": "application/javascript",
  ".json": "application/json",
};

Deno.test("mod.ts can be imported over HTTP from outside the repository", async () => {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const path = normalize(decodeURIComponent(new URL(req.url).pathname));
    if (path.includes("..")) return new Response("bad path", { status: 400 });
    try {
      const body = await Deno.readFile(join(ROOT, path));
      return new Response(body, { headers: { "content-type": CONTENT_TYPES[extname(path)] ?? "text/plain" } });
    } catch {
      return new Response("not found", { status: 404 });
    }
  });
  const dir = await Deno.makeTempDir({ prefix: "llmts_url_import_" });
  try {
    const origin = `127.0.0.1:${server.addr.port}`;
    await Deno.writeTextFile(
      join(dir, "main.ts"),
      [
        `import { encode, decode, encodeShard, parseModelDescriptor } from "http://${origin}/mod.ts";`,
        `const ids = encode("Hello world");`,
        `const magic = new DataView(encodeShard(ids).buffer).getInt32(0, true);`,
        `console.log(JSON.stringify({ ids, text: decode(ids), channels: parseModelDescriptor("d12")?.channels, magic }));`,
      ].join("\n"),
    );
    // --no-config: no deno.json or import map; --reload for this origin: a reused port must not hit a stale cache.
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--quiet", "--no-config", `--allow-import=${origin}`, `--reload=http://${origin}/`, "main.ts"],
      cwd: dir,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, stderr);
    assert.deepEqual(JSON.parse(new TextDecoder().decode(out.stdout)), {
      ids: [15496, 995],
      text: "Hello world",
      channels: 768,
      magic: 20240520,
    });
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});
