/**
 * `deno task test`: runs `deno test -A --parallel tests/` and passes its exit status through, with one exception.
 *
 * Deno 2.9.6 sometimes aborts while the process shuts down after WebGPU buffers were mapped (heap corruption in a
 * runtime thread, reproduced with a five-line `mapAsync` script that uses none of this project's code; about one
 * full run in ten). When that abort comes AFTER the test runner printed its final summary with zero failures, every
 * test has already passed, so the run counts as passed, and a note says what happened. Any other failure fails.
 *
 * @module
 */
// Test files run in parallel, one per core (`--parallel`): most of a run on a CPU-only machine is llvmpipe compiling
// shaders, which runs on the thread that asks, so two cores take a cold run (empty Mesa shader cache, as in CI) from
// 12m44s to 7m59s here (stop 23).
const args = ["test", "-A", "--parallel", ...(Deno.args.length ? Deno.args : ["tests/"])];
const child = new Deno.Command(Deno.execPath(), { args, stdout: "piped", stderr: "inherit" }).spawn();
let tail = "";
const decoder = new TextDecoder();
for await (const chunk of child.stdout) {
  await Deno.stdout.write(chunk);
  tail = (tail + decoder.decode(chunk, { stream: true })).slice(-4096);
}
const status = await child.status;
if (status.success) Deno.exit(0);
// deno-lint-ignore no-control-regex
const plain = tail.replace(/\x1b\[[0-9;]*m/g, "");
const summary = /^ok \| \d+ passed.* \| 0 failed/m.test(plain);
const aborted = status.signal === "SIGABRT" || status.signal === "SIGSEGV" || status.code === 134 ||
  status.code === 139;
if (summary && aborted) {
  console.error(
    `note: deno aborted at exit (${status.signal ?? status.code}) after the summary reported 0 failures; ` +
      "this is Deno 2.9.6's WebGPU shutdown crash, not a test failure: counting the run as passed",
  );
  Deno.exit(0);
}
Deno.exit(status.code || 1);
