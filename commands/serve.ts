/**
 * `gpt2 serve`: serves the training page (`web/`: the page, its stylesheet and one bundle of the library) and the
 * token files of `--data` under `/data/…`, with the Cross-Origin-Opener-Policy / Cross-Origin-Embedder-Policy
 * headers that `SharedArrayBuffer` needs. Binds to loopback unless `--host` says otherwise and prints the URL.
 *
 * The page's script comes from, in order: `--bundle FILE` (a prebuilt `deno bundle --platform browser` of
 * web/app.ts); in a `deno compile` executable, the `dist/app.js` that `deno task compile` built and embedded
 * (`--include`), since an executable cannot run `deno bundle`; otherwise a bundle built now from these sources by
 * the deno that runs this. The page and its stylesheet are text imports, so every build embeds them.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import pageHtml from "../web/index.html" with { type: "text" };
import pageCss from "../web/style.css" with { type: "text" };
import type { Command } from "./_command.ts";
import { UsageError, UserError } from "../util/errors.ts";
import { type CommandSpec, parseFlagsOnly, requireInt } from "../util/flags.ts";

const SPEC: CommandSpec = {
  usage: "gpt2 serve [options]",
  description: "Serve the training page: train, watch and sample a GPT-2 in a browser tab, on its WebGPU.\n" +
    "Example: gpt2 prepro tinyshakespeare && gpt2 serve   # then open http://127.0.0.1:8000/",
  flags: [
    { name: "port", kind: "int", default: 8000, help: "TCP port (0: any free one; the URL says which)" },
    { name: "host", kind: "string", default: "127.0.0.1", help: "address to bind (0.0.0.0 exposes the page)" },
    { name: "data", kind: "string", default: "data", help: "directory served under /data (token files)" },
    {
      name: "bundle",
      kind: "string",
      default: "",
      help: "serve this prebuilt page script (deno bundle --platform browser web/app.ts) instead of bundling now",
    },
  ],
};

const HEADERS = {
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-embedder-policy": "require-corp",
  "cache-control": "no-cache",
};

const web = (name: string) => fileURLToPath(new URL(`../web/${name}`, import.meta.url));
/** Where `deno task compile` puts the page's bundle, relative to this file (embedded with `--include`). */
const EMBEDDED_BUNDLE = new URL("../dist/app.js", import.meta.url);
/** Whether this runs inside a `deno compile` executable. */
const COMPILED = Deno.build.standalone;

/** The page's script: `--bundle`'s file, the executable's embedded bundle, or one built now. */
async function pageScript(bundle: string): Promise<{ script: string; from: string }> {
  if (bundle) {
    try {
      return { script: await Deno.readTextFile(bundle), from: bundle };
    } catch (err) {
      throw new UserError(`--bundle: cannot read ${bundle} (${(err as Error).message})`);
    }
  }
  if (COMPILED) {
    const script = await Deno.readTextFile(EMBEDDED_BUNDLE).catch(() => undefined);
    if (script !== undefined) return { script, from: "the embedded dist/app.js" };
    throw new UserError(
      "gpt2 serve: this executable has no page bundle embedded (build it with deno task compile, or pass --bundle)",
    );
  }
  return { script: await bundlePage(), from: "web/app.ts, bundled now" };
}

/** Builds the page's script from web/app.ts with the deno that runs this. */
async function bundlePage(): Promise<string> {
  const out = await Deno.makeTempFile({ prefix: "llmts-page-", suffix: ".js" });
  try {
    const built = await new Deno.Command(Deno.execPath(), {
      args: ["bundle", "--quiet", "--platform", "browser", "-o", out, web("app.ts")],
      stdout: "null",
      stderr: "piped",
    }).output().catch((err) => ({ success: false, stderr: new TextEncoder().encode((err as Error).message) }));
    if (!built.success) {
      const why = new TextDecoder().decode(built.stderr).trim().split("\n")[0];
      throw new UserError(`gpt2 serve: cannot build the page with 'deno bundle' (${why || "no deno here"})`);
    }
    return await Deno.readTextFile(out);
  } finally {
    await Deno.remove(out).catch(() => {});
  }
}

/** The file of --data that a /data/… request names, or undefined when it leaves the directory or is no file. */
async function dataFile(root: string, path: string): Promise<Uint8Array<ArrayBuffer> | undefined> {
  const parts = decodeURIComponent(path).split("/").filter((p) => p !== "");
  if (parts.some((p) => p === ".." || p.includes("\\"))) return undefined;
  const file = [root, ...parts].join("/");
  const info = await Deno.stat(file).catch(() => undefined);
  return info?.isFile ? await Deno.readFile(file) : undefined;
}

/** The `serve` command. */
export const serveCommand: Command = {
  name: "serve",
  summary: "serve the training page (train and sample in a browser tab, on WebGPU)",
  async run(argv) {
    const f = parseFlagsOnly(argv, SPEC, "serve");
    if (!f) return 0;
    const port = requireInt("--port", f.values["port"], 0);
    if (port > 65535) throw new UsageError(`--port: must be at most 65535, got ${port}`);
    const host = f.values["host"] as string;
    const root = (f.values["data"] as string).replace(/\/+$/, "") || ".";
    const { script, from } = await pageScript(f.values["bundle"] as string);
    const files: Record<string, [string, string]> = {
      "/": [pageHtml, "text/html; charset=utf-8"],
      "/style.css": [pageCss, "text/css; charset=utf-8"],
      "/app.js": [script, "text/javascript; charset=utf-8"],
    };
    let server: Deno.HttpServer<Deno.NetAddr>;
    try {
      server = Deno.serve({ hostname: host, port, onListen() {} }, async (req) => {
        const path = new URL(req.url).pathname;
        const page = files[path === "/index.html" ? "/" : path];
        if (page) return new Response(page[0], { headers: { ...HEADERS, "content-type": page[1] } });
        if (path.startsWith("/data/")) {
          const bytes = await dataFile(root, path.slice("/data/".length));
          if (bytes) {
            return new Response(bytes, { headers: { ...HEADERS, "content-type": "application/octet-stream" } });
          }
        }
        return new Response(`not found: ${path}\n`, { status: 404, headers: HEADERS });
      });
    } catch (err) {
      throw new UserError(`gpt2 serve: cannot listen on ${host}:${port} (${(err as Error).message})`);
    }
    const shown = host === "0.0.0.0" ? "127.0.0.1" : host;
    console.log(
      `serving the training page at http://${shown}:${server.addr.port}/ (data from ${root}/, script from ${from}; ` +
        "Ctrl-C stops)",
    );
    await server.finished;
    return 0;
  },
};
