/** The `gpt2 test` command as a subprocess: exit codes and the lines it prints. */
import { gpuAdapterAvailable } from "../../gpu/device.ts";
import { readCheckpointHeader } from "../../model/checkpoint.ts";
import { readDebugState, writeDebugState } from "../../model/debug_state.ts";
import { gpt2 } from "../commands/_cli.ts";
import { fixturePath } from "./_fixtures.ts";

const RUNS: [string, string, string[]][] = [["small", "5.890347", []], ["awkward", "4.696900", ["--reference"]]];
for (const [name, firstLoss, extra] of RUNS) {
  Deno.test(`gpt2 test ${extra.join(" ")}: exit 0 on ${name}, printing every tensor and the 10 losses`, async () => {
    const { code, stdout, stderr } = await gpt2(
      "test",
      "--model",
      fixturePath(name, "model.bin"),
      "--state",
      fixturePath(name, "state.bin"),
      "--losses",
      fixturePath(name, "expected.json"),
      ...extra,
    );
    if (code !== 0) throw new Error(`exit ${code}\n${stdout}\n${stderr}`);
    for (const what of ["logits", "loss", "grad wte", "grad lnfb", "losses"]) {
      if (!new RegExp(`^${what} .*max abs diff .* OK$`, "m").test(stdout)) throw new Error(`no OK line for ${what}`);
    }
    const steps = stdout.match(/^step \d: loss \d+\.\d{6}$/gm) ?? [];
    if (steps.length !== 10 || steps[0] !== `step 0: loss ${firstLoss}`) throw new Error(`step lines: ${steps}`);
  });
}

for (const device of ["cpu", "gpu"]) {
  Deno.test({
    name: `gpt2 test --precision f16 --device ${device}: within the f16 tolerances, and visibly not fp32`,
    ignore: device === "gpu" && !(await gpuAdapterAvailable()),
    async fn() {
      const [model, state, losses] = ["model.bin", "state.bin", "expected.json"].map((f) => fixturePath("small", f));
      const { code, stdout, stderr } = await gpt2(
        "test",
        ...["-m", model, "-s", state, "--losses", losses, "--precision", "f16", "--device", device],
      );
      if (code !== 0) throw new Error(`exit ${code}\n${stdout}\n${stderr}`);
      if (!/precision: f16/.test(stdout)) throw new Error(`no 'precision: f16' in\n${stdout}`);
      // fp32 lands near 1e-7 on these logits; weights rounded to halves move them by ~1e-3 (≤ 1e-2 allowed).
      const logits = Number(/^logits +max abs diff (\S+) +OK$/m.exec(stdout)?.[1]);
      if (!(logits > 1e-5 && logits <= 1e-2)) throw new Error(`logits max abs diff ${logits}`);
    },
  });
}

Deno.test("gpt2 test: exit 1 naming the tensor when the state's gradients differ", async () => {
  const model = fixturePath("small", "model.bin");
  const cfg = (await readCheckpointHeader(model)).config;
  const state = await readDebugState(fixturePath("small", "state.bin"), cfg);
  state.grads.fcb[5] += 1e-3; // 10× the tolerance
  const path = await Deno.makeTempFile({ suffix: ".bin" });
  await writeDebugState(path, cfg, state);
  const { code, stdout } = await gpt2("test", "-m", model, "-s", path);
  await Deno.remove(path);
  if (code !== 1) throw new Error(`exit ${code}, expected 1\n${stdout}`);
  if (!/^FAILED: grad fcb differs by 1\.000e-3/m.test(stdout)) throw new Error(`no FAILED line for fcb:\n${stdout}`);
  if (/^FAILED: grad (?!fcb)/m.test(stdout)) throw new Error("other gradients reported as failing");
});

Deno.test("gpt2 test: a state for another model exits 1 with one line naming the file", async () => {
  const state = fixturePath("awkward", "state.bin");
  const { code, stderr } = await gpt2("test", "-m", fixturePath("small", "model.bin"), "-s", state);
  if (code !== 1) throw new Error(`exit ${code}, expected 1`);
  const lines = stderr.trim().split("\n");
  if (lines.length !== 1 || !lines[0].startsWith(`gpt2 test: ${state}: `)) throw new Error(`stderr: ${stderr}`);
});

Deno.test("gpt2 test: usage errors exit 2", async () => {
  const tpu = await gpt2("test", "-m", "x.bin", "-s", "y.bin", "--device", "tpu");
  if (tpu.code !== 2 || !tpu.stderr.includes("unknown device 'tpu'")) throw new Error(tpu.stderr);
  const missing = await gpt2("test", "-m", "x.bin");
  if (missing.code !== 2 || !missing.stderr.includes("--state")) throw new Error(missing.stderr);
});

Deno.test({
  name: "gpt2 test --device gpu: the WebGPU backend meets the same tolerances on a fixture",
  ignore: !(await navigator.gpu?.requestAdapter()),
  async fn() {
    const dir = (f: string) => fixturePath("awkward", f);
    const args = ["-m", dir("model.bin"), "-s", dir("state.bin"), "--losses", dir("expected.json"), "--device", "gpu"];
    const { code, stdout, stderr } = await gpt2("test", ...args);
    if (code !== 0 || !stdout.includes("OK: logits, loss and all 16 gradients")) throw new Error(stdout + stderr);
  },
});
