/**
 * Headless Chromium for tests: bundles a page entry (`deno bundle --platform browser`), serves it on loopback with
 * the headers `SharedArrayBuffer` needs, and drives Debian's `chromium` through `playwright-core`, with WebGPU on
 * (through SwiftShader on these machines, which grants `subgroups`). `.ci/run` installs chromium; where it is
 * missing, `chromiumPath` is undefined and the browser tests say so.
 *
 * @module
 */
import { chromium, type Page } from "playwright-core";
import { fileURLToPath } from "node:url";

/** The Chromium binary: $CHROMIUM, else Debian's /usr/bin/chromium when present. */
export const chromiumPath: string | undefined = (() => {
  for (const path of [Deno.env.get("CHROMIUM"), "/usr/bin/chromium"]) {
    try {
      if (path && Deno.statSync(path).isFile) return path;
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
  }
  return undefined;
})();

/** Flags for a headless run on a machine without network: WebGPU on, background services off. */
const FLAGS = [
  "--enable-unsafe-webgpu",
  "--no-sandbox",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

/**
 * Bundles `entry` (a module path relative to this file), serves it inside a blank page and runs `body` with the
 * page; the server and the browser are closed afterwards, whatever happens.
 *
 * @param entry The page's module (it sets what the test evaluates on globalThis).
 * @param body What the test does with the page.
 * @returns What `body` returns.
 */
export async function withPage<R>(entry: string, body: (page: Page) => Promise<R>): Promise<R> {
  if (!chromiumPath) throw new Error("no chromium (install Debian's chromium, or set $CHROMIUM)");
  const dir = await Deno.makeTempDir({ prefix: "llmts-page-" });
  const bundle = `${dir}/page.js`;
  const built = await new Deno.Command(Deno.execPath(), {
    args: ["bundle", "--quiet", "--platform", "browser", "-o", bundle, fileURLToPath(new URL(entry, import.meta.url))],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (!built.success) throw new Error(`deno bundle of ${entry} failed`);
  const script = await Deno.readTextFile(bundle);
  const headers = {
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-embedder-policy": "require-corp",
  };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const path = new URL(req.url).pathname;
    if (path === "/page.js") {
      return new Response(script, { headers: { ...headers, "content-type": "text/javascript" } });
    }
    const html =
      `<!doctype html><meta charset="utf-8"><title>llm.ts test page</title><script type="module" src="/page.js"></script>`;
    return new Response(html, { headers: { ...headers, "content-type": "text/html" } });
  });
  const browser = await chromium.launch({ executablePath: chromiumPath, args: FLAGS });
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on("pageerror", (err) => errors.push(err.message));
    await page.goto(`http://127.0.0.1:${server.addr.port}/`);
    if (errors.length) throw new Error(`the page failed: ${errors.join("; ")}`);
    return await body(page);
  } finally {
    await browser.close();
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
}
