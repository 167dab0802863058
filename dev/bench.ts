/**
 * `deno task bench` (CPU part): GPT-2 d6 and d12 training steps at B=4, T=64 on the CPU backend — median ms/step
 * after warm-up, tokens/s and peak RSS — next to llm.c's `train_gpt2.c` on the same 2-core machines (measured
 * separately: 935 ms/step for d6 and 3,060 ms/step for d12, gcc -Ofast -march=native, OpenMP, 2 threads).
 * Each model runs in its own process (`dev/bench_train_step.ts`) so its peak RSS is its own.
 *
 *     deno task bench            # both models
 *     deno task bench d6         # one
 *
 * @module
 */
const LLMC_MS: Record<string, number> = { d6: 935, d12: 3060 };
const STEPS: Record<string, number> = { d6: 7, d12: 5 };
const models = Deno.args.length ? Deno.args : ["d6", "d12"];
const rows: Record<string, unknown>[] = [];
for (const model of models) {
  const args = ["run", "-A", new URL("./bench_train_step.ts", import.meta.url).pathname, "--model", model];
  args.push("--batch", "4", "--seq", "64", "--steps", String(STEPS[model] ?? 5), "--device", "cpu");
  const out = await new Deno.Command(Deno.execPath(), { args, stderr: "inherit" }).output();
  if (!out.success) Deno.exit(1);
  const row = JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").pop()!);
  rows.push(row);
  console.error(JSON.stringify(row));
}
console.log(`\nCPU training step, B=4, T=64, ${navigator.hardwareConcurrency} threads (median of the timed steps)\n`);
console.log("| model | params | ms/step | tok/s | peak RSS | llm.c C ms/step | ratio to llm.c |");
console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
for (const r of rows) {
  const ref = LLMC_MS[r.model as string];
  const ratio = ref ? ((r.msPerStepMedian as number) / ref).toFixed(2) + "x" : "-";
  console.log(
    `| ${r.model} | ${((r.params as number) / 1e6).toFixed(1)}M | ${r.msPerStepMedian} | ${r.tokensPerSecond} | ` +
      `${r.peakRssGiB} GiB | ${ref ?? "-"} | ${ratio} |`,
  );
}
