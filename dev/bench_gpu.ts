/**
 * `deno task bench:gpu`: GPT-2 training on the WebGPU backend at T=1024, each model next to PyTorch fp32 (TF32 off,
 * `dev/bench_torch.py`) at the same batch in the same run, so every ratio is measured side by side:
 * - d12 (124M, random init) at several batch sizes (16, 32, 64 by default; PyTorch at the best), with the
 *   per-kernel profile of one d12 step at the first batch size;
 * - the larger models of `--large` (default d24 at B=16 and d48, llm.c's GPT-2 XL, at B=8).
 * Meant for the H200 via the device tool (see ../shared/gpu/README.md); on llvmpipe use
 * `--model layers=2,heads=2,channels=64,seq=64 --seq 64 --batches 2 --large ""`.
 *
 *     deno task bench:gpu [--model d12] [--seq 1024] [--batches 16,32,64] [--large d24:16,d48:8] [--steps 10]
 *                         [--attention materialized|flash] [--precision fp32|f16] [--f16-math none|weights|all]
 *                         [--no-torch]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { parseModelDescriptor } from "../model/config.ts";

const { values } = parseArgs({
  options: {
    model: { type: "string", default: "d12" },
    seq: { type: "string", default: "1024" },
    batches: { type: "string", default: "16,32,64" },
    large: { type: "string", default: "d24:16,d48:8" },
    steps: { type: "string", default: "10" },
    "no-torch": { type: "boolean", default: false },
    attention: { type: "string", default: "materialized" },
    precision: { type: "string", default: "fp32" },
    "f16-math": { type: "string", default: "none" },
  },
});
type Row = Record<string, number | string>;
const step = new URL("./bench_train_step.ts", import.meta.url).pathname;

/** One llm.ts measurement in its own process (its memory is its own); undefined when it failed. */
async function llmts(model: string, B: string, steps: string, profile: boolean): Promise<Row | undefined> {
  const args = ["run", "-A", step, "--model", model, "--batch", B, "--seq", values.seq!];
  args.push("--steps", steps, "--warmup", "3", "--device", "gpu", "--attention", values.attention!);
  args.push("--precision", values.precision!, "--f16-math", values["f16-math"]!);
  if (profile) args.push("--profile");
  const out = await new Deno.Command(Deno.execPath(), { args, stderr: "inherit" }).output();
  const text = new TextDecoder().decode(out.stdout).trim();
  if (!out.success) {
    console.error(`${model} B=${B}: failed (exit ${out.code}) ${text}`);
    return undefined;
  }
  const row = JSON.parse(text.split("\n").pop()!);
  console.error(JSON.stringify({ ...row, profile: undefined }));
  return row;
}

/** The PyTorch peer at the same shape and batch; undefined without python3 and CUDA torch. */
async function pytorch(model: string, B: number | string, steps: string): Promise<Row | undefined> {
  if (values["no-torch"]) return undefined;
  const cfg = parseModelDescriptor(model);
  if (!cfg) return undefined;
  const script = new URL("./bench_torch.py", import.meta.url).pathname;
  const args = [script, "--layers", `${cfg.numLayers}`, "--heads", `${cfg.numHeads}`, "--channels", `${cfg.channels}`];
  args.push("--batch", `${B}`, "--seq", values.seq!, "--steps", steps);
  const out = await new Deno.Command("python3", { args, stderr: "inherit" }).output().catch(() => undefined);
  if (out?.success) return JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").pop()!);
  console.error(`PyTorch peer for ${model} B=${B} did not run (python3 with CUDA torch is needed)`);
  return undefined;
}

/** A markdown table of one model's rows and its PyTorch peer. */
function table(model: string, steps: string, rows: Row[], torch?: Row): string {
  const lines = [
    `\nGPT-2 ${model} training step, T=${values.seq}, wall time of ${steps} steps after 3 warm-up over their count\n`,
    "| implementation | B | ms/step | tokens/s | memory | ratio |",
    "| --- | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const r of rows) {
    const ratio = torch ? ((r.tokensPerSecond as number) / (torch.tokens_per_s as number)).toFixed(2) + "x" : "-";
    lines.push(
      `| llm.ts ${r.device} | ${r.B} | ${r.msPerStepMean} | ${r.tokensPerSecond} | ${r.tensorGiB} GiB tensors | ${ratio} |`,
    );
  }
  if (torch) {
    lines.push(
      `| PyTorch ${torch.torch} fp32, TF32 off | ${torch.B} | ${torch.ms_per_step} | ${torch.tokens_per_s} | ` +
        `${torch.max_memory_gib} GiB peak | 1.00x |`,
    );
  }
  return lines.join("\n");
}

const out: string[] = [];
const rows: Row[] = [];
for (const [i, B] of values.batches!.split(",").entries()) {
  const row = await llmts(values.model!, B, values.steps!, i === 0);
  if (row) rows.push(row);
}
if (!rows.length) Deno.exit(1);
const best = rows.reduce((a, b) => (b.tokensPerSecond as number) > (a.tokensPerSecond as number) ? b : a);
out.push(table(values.model!, values.steps!, rows, await pytorch(values.model!, best.B, values.steps!)));
// Larger models run fewer steps: each takes seconds.
const largeSteps = String(Math.min(5, Number(values.steps)));
for (const spec of values.large ? values.large.split(",") : []) {
  const [model, B] = spec.split(":");
  const row = await llmts(model, B ?? "8", largeSteps, false);
  out.push(table(model, largeSteps, row ? [row] : [], await pytorch(model, B ?? "8", largeSteps)));
}
console.log(out.join("\n"));
if (rows[0].profile) {
  console.log(`\nPer-kernel profile of one ${values.model} step at B=${rows[0].B}:\n\n${rows[0].profile}`);
}
