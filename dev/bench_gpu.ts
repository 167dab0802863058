/**
 * `deno task bench:gpu`: GPT-2 124M (`d12`, random init) training on the WebGPU backend at T=1024 for several batch
 * sizes (16, 32, 64 by default; the best is reported), then — in the same run, on the same machine — the same model
 * and batch in PyTorch fp32 with TF32 off (`dev/bench_torch.py`), so the ratio is measured side by side. Meant for the H200 via
 * the device tool (see ../shared/gpu/README.md); on llvmpipe use `--model layers=2,heads=2,channels=64,seq=64`.
 *
 *     deno task bench:gpu [--model d12] [--seq 1024] [--batches 16,32,64] [--steps 10] [--no-torch]
 *
 * @module
 */
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    model: { type: "string", default: "d12" },
    seq: { type: "string", default: "1024" },
    batches: { type: "string", default: "16,32,64" },
    steps: { type: "string", default: "10" },
    "no-torch": { type: "boolean", default: false },
  },
});
const step = new URL("./bench_train_step.ts", import.meta.url).pathname;
const rows: Record<string, number | string>[] = [];
for (const B of values.batches!.split(",")) {
  const args = ["run", "-A", step, "--model", values.model!, "--batch", B, "--seq", values.seq!];
  args.push("--steps", values.steps!, "--warmup", "3", "--device", "gpu");
  const out = await new Deno.Command(Deno.execPath(), { args, stderr: "inherit" }).output();
  const text = new TextDecoder().decode(out.stdout).trim();
  if (!out.success) {
    console.error(`B=${B}: failed (exit ${out.code}) ${text}`);
    continue;
  }
  const row = JSON.parse(text.split("\n").pop()!);
  console.error(JSON.stringify(row));
  rows.push(row);
}
if (!rows.length) Deno.exit(1);
const best = rows.reduce((a, b) => (b.tokensPerSecond as number) > (a.tokensPerSecond as number) ? b : a);
let torch: Record<string, number | string> | undefined;
if (!values["no-torch"]) {
  const cfg = { d12: [12, 12, 768] } as Record<string, number[]>;
  const [L, NH, C] = cfg[values.model!] ?? [12, 12, 768];
  const script = new URL("./bench_torch.py", import.meta.url).pathname;
  const args = [script, "--layers", `${L}`, "--heads", `${NH}`, "--channels", `${C}`, "--batch", `${best.B}`];
  args.push("--seq", values.seq!, "--steps", values.steps!);
  const out = await new Deno.Command("python3", { args, stderr: "inherit" }).output().catch(() => undefined);
  if (out?.success) torch = JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").pop()!);
  else console.error("PyTorch peer did not run (python3 with CUDA torch is needed)");
}
console.log(
  `\nGPT-2 ${values.model} training step, T=${values.seq}, median of ${values.steps} steps after 3 warm-up\n`,
);
console.log("| implementation | B | ms/step | tokens/s | memory | ratio |");
console.log("| --- | ---: | ---: | ---: | ---: | ---: |");
for (const r of rows) {
  const ratio = torch ? ((r.tokensPerSecond as number) / (torch.tokens_per_s as number)).toFixed(2) + "x" : "-";
  console.log(
    `| llm.ts ${r.device} | ${r.B} | ${r.msPerStepMedian} | ${r.tokensPerSecond} | ${r.tensorGiB} GiB tensors | ${ratio} |`,
  );
}
if (torch) {
  console.log(
    `| PyTorch ${torch.torch} fp32, TF32 off | ${torch.B} | ${torch.ms_per_step} | ${torch.tokens_per_s} | ` +
      `${torch.max_memory_gib} GiB peak | 1.00x |`,
  );
}
