/**
 * HellaSwag eval throughput: a synthetic llm.c eval file (seeded random GPT-2 tokens: contexts of 20-70 and endings
 * of 8-35 tokens, 4 endings each, as HellaSwag's are roughly sized), scored by `gpt2 eval hellaswag` in its own
 * process for each model × `-b`, examples/s over the whole command (model set-up included, so use a few hundred
 * examples).
 *
 *     deno run -A dev/bench_hellaswag.ts --model d6 --batch 1,4,8 --examples 300 --device cpu
 *     deno run -A dev/bench_hellaswag.ts --model d12 --model d48 --batch 4,16 --examples 1000 --device gpu   # H200
 *
 * @module
 */
import { parseArgs } from "node:util";
import { encodeEvalFile, type EvalExample } from "../prepro/_evalfile.ts";

const { values } = parseArgs({
  options: {
    model: { type: "string", multiple: true, default: ["d6"] },
    batch: { type: "string", default: "4" },
    examples: { type: "string", default: "300" },
    device: { type: "string", default: "cpu" },
  },
});
const n = Number(values.examples);
let state = 12345;
const next = (bound: number) => { // a small LCG: the file only needs to be the same every run
  state = (Math.imul(state, 1103515245) + 12345) >>> 0;
  return state % bound;
};
const tokens = (length: number) => Array.from({ length }, () => next(50257));
const examples: EvalExample[] = Array.from({ length: n }, () => ({
  label: next(4),
  context: tokens(20 + next(51)),
  endings: Array.from({ length: 4 }, () => tokens(8 + next(28))),
}));
const dir = await Deno.makeTempDir();
const file = `${dir}/synthetic_hellaswag.bin`;
await Deno.writeFile(file, encodeEvalFile(examples));
const cli = new URL("../cli.ts", import.meta.url).pathname;

console.log(`${n} synthetic examples, --device ${values.device}\n`);
console.log("| model | -b | seconds | examples/s |");
console.log("| --- | ---: | ---: | ---: |");
for (const model of values.model!) {
  for (const batch of values.batch!.split(",")) {
    const args = ["run", "-A", cli, "eval", "hellaswag", "-e", model, "--data", file, "-b", batch];
    args.push("--device", values.device!, "--json");
    const t0 = performance.now();
    const out = await new Deno.Command(Deno.execPath(), { args, stderr: "null" }).output();
    const seconds = (performance.now() - t0) / 1000;
    const cell = out.success ? (n / seconds).toFixed(1) : `failed (exit ${out.code})`;
    console.log(`| ${model} | ${batch} | ${seconds.toFixed(1)} | ${cell} |`);
  }
}
await Deno.remove(dir, { recursive: true });
