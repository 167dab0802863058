/**
 * Generation benchmark: `gpt2 generate` (random init, KV cache, an inference-only model) at batch 1 for 512 tokens
 * and with `--num-samples 8`, for d12 and d48, each next to `transformers`' GPT2LMHeadModel `generate` (fp32, eager,
 * KV cache; `dev/bench_generate_torch.py`) in the same run. Meant for the H200 via the device tool; on the CPU use
 * `--model layers=2,heads=2,channels=64,seq=128 --tokens 64 --device cpu --no-torch`.
 *
 *     deno run -A dev/bench_generate.ts [--model d12 --model d48] [--tokens 512] [--samples 1,8] [--device gpu]
 *                                       [--precision fp32|f16]
 *                                       [--no-torch]
 *
 * Each run is its own `gpt2 generate --json` process; tokens/s counts the sampled tokens of every sample over the
 * sampling time (prompt included; the samples decode together, batched), as the `end` events report it.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { parseModelDescriptor } from "../model/config.ts";

const { values } = parseArgs({
  options: {
    model: { type: "string", multiple: true, default: ["d12", "d48"] },
    tokens: { type: "string", default: "512" },
    samples: { type: "string", default: "1,8" },
    device: { type: "string", default: "gpu" },
    precision: { type: "string", default: "fp32" },
    "no-torch": { type: "boolean", default: false },
  },
});
const cli = new URL("../cli.ts", import.meta.url).pathname;
type Row = Record<string, string | number>;

/**
 * One `gpt2 generate --json` run: total tokens and seconds over its samples, and the first token's latency. A short
 * untimed run of the same model comes first, so that the driver's own shader cache is warm, as it is from a user's
 * second run on: a first run on a fresh machine (no cache) measured 286 ms to the first token on the H200, 83 ms
 * with the cache.
 */
async function llmts(model: string, samples: number): Promise<Row | undefined> {
  const warm = ["run", "-A", cli, "generate", "-e", model, "-n", "4", "--device", values.device!, "--json"];
  warm.push("--precision", values.precision!);
  await new Deno.Command(Deno.execPath(), { args: warm, stdout: "null", stderr: "null" }).output();
  const args = ["run", "-A", cli, "generate", "-e", model, "-n", values.tokens!, "--device", values.device!];
  args.push("--precision", values.precision!);
  args.push("--num-samples", `${samples}`, "--json");
  const out = await new Deno.Command(Deno.execPath(), { args, stderr: "inherit" }).output();
  if (!out.success) {
    console.error(`${model} × ${samples}: failed (exit ${out.code})`);
    return undefined;
  }
  const events = new TextDecoder().decode(out.stdout).trim().split("\n").map((l) => JSON.parse(l));
  const start = events.find((e) => e.type === "start");
  const ends = events.filter((e) => e.type === "end");
  const tokens = ends.reduce((n, e) => n + e.tokens, 0);
  const seconds = Math.max(...ends.map((e) => e.seconds)); // the samples decode together: one window
  return {
    device: start.device,
    samples,
    tokens,
    seconds: Math.round(seconds * 1000) / 1000,
    tokensPerSecond: Math.round((tokens / seconds) * 10) / 10,
    firstTokenMs: Math.round(ends[0].firstTokenSeconds * 1000),
  };
}

async function transformers(model: string, batch: number): Promise<Row | undefined> {
  if (values["no-torch"]) return undefined;
  const cfg = parseModelDescriptor(model);
  if (!cfg) return undefined;
  const script = new URL("./bench_generate_torch.py", import.meta.url).pathname;
  const args = [script, "--layers", `${cfg.numLayers}`, "--heads", `${cfg.numHeads}`, "--channels", `${cfg.channels}`];
  args.push("--tokens", values.tokens!, "--batch", `${batch}`);
  const out = await new Deno.Command("python3", { args, stderr: "inherit" }).output().catch(() => undefined);
  if (out?.success) return JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").pop()!);
  console.error(`transformers peer for ${model} × ${batch} did not run (python3 with torch and transformers needed)`);
  return undefined;
}

const lines = [
  `\nGeneration, ${values.tokens} new tokens per sample after <|endoftext|>, random init\n`,
  "| model | implementation | samples | tokens/s | first token | ratio |",
  "| --- | --- | ---: | ---: | ---: | ---: |",
];
for (const model of values.model!) {
  for (const samples of values.samples!.split(",").map(Number)) {
    const ours = await llmts(model, samples);
    const peer = await transformers(model, samples);
    const ratio = ours && peer
      ? `${((ours.tokensPerSecond as number) / (peer.tokens_per_s as number)).toFixed(2)}x`
      : "-";
    if (ours) console.error(`${model} × ${samples}: ${JSON.stringify(ours)}`);
    if (peer) console.error(`${model} × ${samples} transformers: ${JSON.stringify(peer)}`);
    if (ours) {
      lines.push(
        `| ${model} | llm.ts ${ours.device} | ${samples} | ${ours.tokensPerSecond} | ${ours.firstTokenMs} ms | ${ratio} |`,
      );
    }
    if (peer) {
      lines.push(
        `| ${model} | transformers (torch ${peer.torch}) fp32 | ${samples} | ${peer.tokens_per_s} | - | 1.00x |`,
      );
    }
  }
}
console.log(lines.join("\n"));
