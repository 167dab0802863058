/**
 * fp32 against f16 training from the same initialization and data order (issue 13, item 6): two `gpt2 train` runs
 * that differ only in `--precision`, their val losses side by side at every evaluation, the largest gap, and both
 * curves (train and val) in one SVG chart. The bar: every val loss within 0.02 nats of the other run's.
 *
 *     # on the H200, d12 at T=1024 on Tiny Shakespeare (data/tinyshakespeare from `gpt2 prepro tinyshakespeare`):
 *     deno run -A dev/validate_precision.ts --out /tmp/precision --svg docs/precision_d12.svg -- \
 *       -e d12 -b 16 -t 1024 -x 300 -v 25 -m 20 -s 0 -n 0
 *     # on the CPU, a small check:
 *     deno run -A dev/validate_precision.ts --out /tmp/precision -- -e d6 -b 4 -t 64 -x 40 -v 10 -m 4 --device cpu
 *
 * Everything after `--` goes to both runs (`-o` is set per run, under `--out`).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { lineChartSvg, type Series } from "../train/plot.ts";
import { writeFileAtomic } from "../util/fs.ts";

const split = Deno.args.indexOf("--");
const { values } = parseArgs({
  args: split < 0 ? Deno.args : Deno.args.slice(0, split),
  options: {
    out: { type: "string", default: "/tmp/validate_precision" },
    svg: { type: "string" },
    bar: { type: "string", default: "0.02" },
  },
});
const trainArgs = split < 0 ? [] : Deno.args.slice(split + 1);
const cli = new URL("../cli.ts", import.meta.url).pathname;

interface Curves {
  train: [number, number][];
  val: [number, number][];
}

/** One training run; its step and val losses from its log.jsonl. */
async function run(precision: "fp32" | "f16"): Promise<Curves> {
  const dir = `${values.out}/${precision}`;
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  const args = ["run", "-A", cli, "train", ...trainArgs, "--precision", precision, "-o", dir];
  console.error(`$ deno ${args.join(" ")}`);
  const { success, code } = await new Deno.Command(Deno.execPath(), { args, stdout: "inherit", stderr: "inherit" })
    .output();
  if (!success) throw new Error(`the ${precision} run failed (exit ${code})`);
  const curves: Curves = { train: [], val: [] };
  for (const line of (await Deno.readTextFile(`${dir}/log.jsonl`)).split("\n")) {
    if (!line) continue;
    const e = JSON.parse(line);
    if (e.type === "step") curves.train.push([e.step, e.loss]);
    if (e.type === "val") curves.val.push([e.step, e.valLoss]);
  }
  return curves;
}

const fp32 = await run("fp32");
const f16 = await run("f16");
const bar = Number(values.bar);
console.log("\n| step | val fp32 | val f16 | |diff| |");
console.log("| ---: | ---: | ---: | ---: |");
let worst = 0;
for (const [step, loss] of fp32.val) {
  const other = f16.val.find(([s]) => s === step)?.[1] ?? NaN;
  const diff = Math.abs(loss - other);
  worst = Number.isNaN(diff) ? NaN : Math.max(worst, diff);
  console.log(`| ${step} | ${loss.toFixed(4)} | ${other.toFixed(4)} | ${diff.toFixed(4)} |`);
}
const verdict = worst <= bar ? "within" : "NOT within";
console.log(`\nlargest val gap ${worst.toFixed(4)} nats over ${fp32.val.length} evaluations: ${verdict} ${bar}`);
if (values.svg) {
  const series: Series[] = [
    { label: "train fp32", color: "#1f77b4", points: fp32.train, markers: false },
    { label: "train f16", color: "#ff7f0e", points: f16.train, markers: false },
    { label: "val fp32", color: "#2ca02c", points: fp32.val },
    { label: "val f16", color: "#d62728", points: f16.val },
  ];
  await writeFileAtomic(values.svg, new TextEncoder().encode(lineChartSvg("fp32 vs f16 weights", series)));
  console.log(`wrote ${values.svg}`);
}
if (!(worst <= bar)) Deno.exit(1);
