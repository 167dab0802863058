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
 * `--control` adds a third run, fp32 again with `--attention flash`: the same arithmetic summed in another order (a
 * difference of ~1e-7 where f16 weights make ~5e-4). Its gap to the first fp32 run is how far two fp32 trajectories
 * drift apart on their own at these settings, printed beside the f16 gap: a bar below that floor measures the chaos of
 * training, not the precision.
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
    control: { type: "boolean", default: false },
  },
});
const trainArgs = split < 0 ? [] : Deno.args.slice(split + 1);
const cli = new URL("../cli.ts", import.meta.url).pathname;

interface Curves {
  train: [number, number][];
  val: [number, number][];
  /** Steps the dynamic loss scale skipped (an f16 run's overflows), and the scale after the last step. */
  skipped: number[];
  lossScale?: number;
}

/** One training run (`name` its folder under --out); its step and val losses from its log.jsonl. */
async function run(name: string, flags: string[]): Promise<Curves> {
  const dir = `${values.out}/${name}`;
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  const args = ["run", "-A", cli, "train", ...trainArgs, ...flags, "-o", dir];
  console.error(`$ deno ${args.join(" ")}`);
  const { success, code } = await new Deno.Command(Deno.execPath(), { args, stdout: "inherit", stderr: "inherit" })
    .output();
  if (!success) throw new Error(`the ${name} run failed (exit ${code})`);
  const curves: Curves = { train: [], val: [], skipped: [] };
  for (const line of (await Deno.readTextFile(`${dir}/log.jsonl`)).split("\n")) {
    if (!line) continue;
    const e = JSON.parse(line);
    if (e.type === "step") curves.train.push([e.step, e.loss]);
    if (e.type === "step" && e.skipped) curves.skipped.push(e.step);
    if (e.type === "step" && e.lossScale !== undefined) curves.lossScale = e.lossScale;
    if (e.type === "val") curves.val.push([e.step, e.valLoss]);
  }
  return curves;
}

const fp32 = await run("fp32", ["--precision", "fp32"]);
const f16 = await run("f16", ["--precision", "f16"]);
const control = values.control ? await run("fp32_flash", ["--precision", "fp32", "--attention", "flash"]) : undefined;
const bar = Number(values.bar);
const valAt = (c: Curves, step: number) => c.val.find(([s]) => s === step)?.[1] ?? NaN;
console.log(`\n| step | val fp32 | val f16 | |diff| |${control ? " val fp32 (flash) | |diff| to fp32 |" : ""}`);
console.log(`| ---: | ---: | ---: | ---: |${control ? " ---: | ---: |" : ""}`);
let worst = 0, worstControl = 0;
for (const [step, loss] of fp32.val) {
  const diff = Math.abs(loss - valAt(f16, step));
  worst = Number.isNaN(diff) ? NaN : Math.max(worst, diff);
  let cells = `| ${step} | ${loss.toFixed(4)} | ${valAt(f16, step).toFixed(4)} | ${diff.toFixed(4)} |`;
  if (control) {
    const c = Math.abs(loss - valAt(control, step));
    worstControl = Number.isNaN(c) ? NaN : Math.max(worstControl, c);
    cells += ` ${valAt(control, step).toFixed(4)} | ${c.toFixed(4)} |`;
  }
  console.log(cells);
}
if (control) console.log(`\nlargest val gap between the two fp32 runs: ${worstControl.toFixed(4)} nats`);
// A skipped step is a step the other run took: a discrete difference between the trajectories, so say where.
const skips = f16.skipped.length ? `steps ${f16.skipped.join(", ")}` : "none";
const scale = f16.lossScale === undefined ? "" : `; loss scale 2^${Math.log2(f16.lossScale)} at the end`;
console.log(`f16 run: skipped (overflow) ${skips}${scale}`);
const verdict = worst <= bar ? "within" : "NOT within";
console.log(`\nlargest val gap ${worst.toFixed(4)} nats over ${fp32.val.length} evaluations: ${verdict} ${bar}`);
if (values.svg) {
  const series: Series[] = [
    { label: "train fp32", color: "#1f77b4", points: fp32.train, markers: false },
    { label: "train f16", color: "#ff7f0e", points: f16.train, markers: false },
    { label: "val fp32", color: "#2ca02c", points: fp32.val },
    { label: "val f16", color: "#d62728", points: f16.val },
    ...(control ? [{ label: "val fp32 (flash)", color: "#9467bd", points: control.val }] : []),
  ];
  await writeFileAtomic(values.svg, new TextEncoder().encode(lineChartSvg("fp32 vs f16 weights", series)));
  console.log(`wrote ${values.svg}`);
}
if (!(worst <= bar)) Deno.exit(1);
