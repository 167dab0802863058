/**
 * `deno task compile`: builds the `./gpt2` executable with `deno compile`.
 *
 * `deno compile` downloads Deno's `denort` runtime, which these machines cannot reach. With `DENORT_BIN` set to a
 * local `denort` binary of the same Deno version (Deno honours that variable), the executable is built from it;
 * otherwise this prints why nothing was built and exits 1. Nothing else in the project depends on this task.
 *
 * The CPU kernel Workers are started on `cpu/kernels.ts` itself, which is in the module graph, so no
 * `--include` is needed for them; `--include` is passed anyway so the Worker entry is embedded explicitly.
 *
 * An executable cannot run `deno bundle`, so `gpt2 serve`'s page script is built first, into `dist/app.js`
 * (`deno bundle --platform browser web/app.ts`), and embedded with `--include`; serve reads it from there when it
 * runs compiled (commands/serve.ts). The page and its stylesheet are text imports, embedded like the WGSL.
 *
 * @module
 */
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const denort = Deno.env.get("DENORT_BIN");
if (!denort) {
  console.error(
    `compile: ./gpt2 was not built: deno compile must download Deno's denort runtime (v${Deno.version.deno}), ` +
      "which is unreachable here; set DENORT_BIN=/path/to/denort (same version) and run deno task compile again",
  );
  Deno.exit(1);
}
try {
  if (!Deno.statSync(denort).isFile) throw new Error("not a file");
} catch {
  console.error(`compile: DENORT_BIN=${denort} is not a file; point it at a denort binary v${Deno.version.deno}`);
  Deno.exit(1);
}
const page = ["bundle", "--quiet", "--platform", "browser", "-o", "dist/app.js", "web/app.ts"];
const bundled = await new Deno.Command(Deno.execPath(), { args: page, cwd: ROOT }).spawn().status;
if (!bundled.success) {
  console.error(`compile: deno ${page.join(" ")} failed, so ./gpt2 was not built (gpt2 serve needs the page)`);
  Deno.exit(1);
}
const args = ["compile", "-A", "--include", "cpu/kernels.ts", "--include", "dist/app.js", "--output", "gpt2", "cli.ts"];
const status = await new Deno.Command(Deno.execPath(), { args, cwd: ROOT, env: { DENORT_BIN: denort } }).spawn()
  .status;
if (!status.success) console.error(`compile: deno ${args.join(" ")} failed with DENORT_BIN=${denort}`);
Deno.exit(status.code);
