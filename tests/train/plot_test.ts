import assert from "node:assert/strict";
import { clipLimit, formatTicks, lineChartSvg, niceTicks, type Series } from "../../train/plot.ts";

// Helpers that read the SVG back with regexes (the chart is flat: no groups, one element per line).
interface Text {
  x: number;
  y: number;
  cls: string;
  body: string;
}
const texts = (svg: string): Text[] =>
  [...svg.matchAll(/<text x="([-\d.]+)" y="([-\d.]+)"([^>]*)>([^<]*)<\/text>/g)].map((m) => ({
    x: Number(m[1]),
    y: Number(m[2]),
    cls: /class="(\w+)"/.exec(m[3])?.[1] ?? "",
    body: m[4],
  }));
const ticks = (svg: string, axis: "xtick" | "ytick") => texts(svg).filter((t) => t.cls === axis);
const circles = (svg: string) =>
  [...svg.matchAll(/<circle cx="([-\d.]+)" cy="([-\d.]+)" r="3" fill="([^"]+)" stroke/g)].map((m) => ({
    cx: Number(m[1]),
    cy: Number(m[2]),
    fill: m[3],
  }));
const size = (svg: string) => {
  const m = /^<svg [^>]*width="(\d+)" height="(\d+)"/.exec(svg);
  assert.ok(m, "svg root with width and height");
  return { w: Number(m[1]), h: Number(m[2]) };
};
const NICE = [1, 2, 2.5, 5];
/** The tick step is m × 10^k with m in {1, 2, 2.5, 5}, and every tick is a whole multiple of it. */
function assertNice(t: number[]): number {
  const step = t[1] - t[0];
  const m = step / 10 ** Math.floor(Math.log10(step) + 1e-9);
  assert.ok(NICE.some((n) => Math.abs(m - n) < 1e-9), `step ${step} is not 1, 2, 2.5 or 5 × 10^k`);
  for (const [i, v] of t.entries()) {
    assert.ok(Math.abs(v / step - Math.round(v / step)) < 1e-6, `tick ${v} is not a multiple of ${step}`);
    if (i) assert.ok(Math.abs(v - t[i - 1] - step) < step * 1e-9, `ticks ${t} are not evenly spaced`);
  }
  return step;
}
function decaying(n: number): [number, number][] {
  let seed = 7;
  const rand = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  return Array.from({ length: n }, (_, s) => [s, 6 + 4.9 * Math.exp(-s / 40) + (rand() - 0.5) * 0.3]);
}
const train = (points: [number, number][]): Series => ({ label: "train", color: "#1f77b4", points });
const val = (points: [number, number][]): Series => ({ label: "val", color: "#d62728", points, markers: true });

/** Well-formed enough: one root, balanced text elements, every text and mark inside the image, 0.1 px coordinates. */
function assertSane(svg: string): void {
  assert.ok(svg.startsWith("<svg ") && svg.trimEnd().endsWith("</svg>"), "one <svg> root");
  assert.equal(svg.match(/<svg/g)!.length, 1);
  assert.equal(svg.match(/<text/g)?.length ?? 0, svg.match(/<\/text>/g)?.length ?? 0, "every <text> is closed");
  assert.equal(texts(svg).length, svg.match(/<text/g)?.length ?? 0, "every <text> parses");
  assert.doesNotMatch(svg, /&(?!lt;|gt;|amp;|quot;|#39;)/, "bare & in the document");
  assert.doesNotMatch(svg, /NaN|Infinity|undefined/, "a non-number leaked into the document");
  const { w, h } = size(svg);
  for (const t of texts(svg)) {
    assert.ok(t.x >= 0 && t.x <= w && t.y >= 0 && t.y <= h, `text "${t.body}" at ${t.x},${t.y} is outside ${w}x${h}`);
  }
  for (const m of svg.matchAll(/(?:points|cx|cy|x[12]|y[12])="([^"]*)"/g)) {
    for (const v of m[1].split(/[ ,]/).map(Number)) {
      assert.ok(v >= 0 && v <= Math.max(w, h), `coordinate ${v} is outside the image`);
      assert.equal(v, Math.round(v * 10) / 10, `coordinate ${v} is not rounded to 0.1`);
    }
  }
}

Deno.test("niceTicks: a loss range gets half-unit ticks from 8 to 11", () => {
  const t = niceTicks(8.21, 10.9);
  assert.deepEqual(t, [8, 8.5, 9, 9.5, 10, 10.5, 11]);
  assertNice(t);
});

Deno.test("niceTicks: steps 1..144 get integer ticks at multiples of 10, 20, 25 or 50", () => {
  const t = niceTicks(1, 144, { integer: true });
  const step = assertNice(t);
  assert.ok([10, 20, 25, 50].includes(step), `step ${step}`);
  assert.ok(t.every(Number.isInteger));
  assert.ok(t[0] <= 1 && t[t.length - 1] >= 144 && t.length <= 8, `${t}`);
});

Deno.test("niceTicks: a single value or a one-step span gives distinct ticks", () => {
  for (const [lo, hi] of [[144, 144], [144, 145], [0, 0], [3, 4]]) {
    const t = niceTicks(lo, hi, { integer: true });
    assert.ok(t.every(Number.isInteger), `${t}`);
    assert.equal(new Set(t).size, t.length, `duplicates in ${t}`);
    assert.ok(t.length >= 2 && t[0] <= lo && t[t.length - 1] >= hi, `${t}`);
  }
  for (const v of [5.5, 0, -3, 1e30]) {
    const t = niceTicks(v, v);
    assert.equal(new Set(formatTicks(t)).size, t.length, `labels ${formatTicks(t)} for ${v}`);
    assert.ok(t[0] < v && t[t.length - 1] > v, `${t} around ${v}`);
  }
});

Deno.test("niceTicks: random ranges at many scales stay nice, covering and at most maxCount", () => {
  let seed = 12345;
  const rand = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  for (let i = 0; i < 500; i++) {
    const scale = 10 ** Math.floor(rand() * 40 - 20), a = (rand() - 0.3) * scale, b = a + rand() * scale;
    const maxCount = 3 + Math.floor(rand() * 8);
    const t = niceTicks(a, b, { maxCount });
    assert.ok(t.length >= 2 && t.length <= maxCount, `${t.length} ticks for maxCount ${maxCount}`);
    assert.ok(t[0] <= a && t[t.length - 1] >= b, `${t} does not cover ${a}..${b}`);
    const step = assertNice(t);
    assert.ok(t[0] > a - step && t[t.length - 1] < b + step, `${t} extends past one step beyond ${a}..${b}`);
  }
  assert.deepEqual(niceTicks(-1, 1, { maxCount: 2 }), [-1, 0, 1], "at least 3 ticks, so a range around 0 fits");
  assert.throws(() => niceTicks(0, Infinity), /finite/);
});

Deno.test("formatTicks: just enough decimals, compact exponents", () => {
  assert.deepEqual(formatTicks([9, 9.5, 10]), ["9", "9.5", "10"]);
  assert.deepEqual(formatTicks([0, 0.25, 0.5]), ["0", "0.25", "0.5"]);
  assert.deepEqual(formatTicks([0, 50, 100, 150]), ["0", "50", "100", "150"]);
  assert.deepEqual(formatTicks([0.1, 0.2, 0.3]), ["0.1", "0.2", "0.3"]);
  assert.deepEqual(formatTicks([1e30, 1.5e30, 2e30]), ["1e30", "1.5e30", "2e30"]);
  assert.deepEqual(formatTicks([0, 2e-4, 4e-4]), ["0", "2e-4", "4e-4"]);
});

Deno.test("clipLimit: nothing clipped on a normal run, 1.5 x the initial loss on a divergence", () => {
  assert.equal(clipLimit([train(decaying(150))]), Infinity);
  assert.equal(clipLimit([train([[0, 10], [1, 10], [2, 10], [3, 1e30]])]), 15);
  // A lone early spike does not move the reference (median of the first 5 values).
  assert.equal(clipLimit([train([[0, 10], [1, 1e30], [2, 10], [3, 10], [4, 10], [5, 6]])]), 15);
  assert.equal(clipLimit([]), Infinity);
});

Deno.test("lineChartSvg: a 150-step run has nice, unique, few tick labels and axis titles", () => {
  const svg = lineChartSvg("GPT-2 training loss", [train(decaying(150)), {
    label: "val",
    color: "#d62728",
    points: decaying(150).filter(([s]) => s % 20 === 0),
  }]);
  assertSane(svg);
  const xs = ticks(svg, "xtick").map((t) => t.body), ys = ticks(svg, "ytick").map((t) => t.body);
  assert.ok(xs.every((l) => /^\d+$/.test(l)), `x labels ${xs}`);
  assert.ok(ys.every((l) => /^\d+(\.\d)?$/.test(l)), `y labels ${ys}`);
  for (const labels of [xs, ys]) {
    assert.equal(new Set(labels).size, labels.length, `duplicates in ${labels}`);
    assert.ok(labels.length >= 3 && labels.length <= 10, `${labels.length} labels`);
    assertNice(labels.map(Number));
  }
  assert.ok(Number(xs[0]) <= 0 && Number(xs[xs.length - 1]) >= 149, `x axis ${xs}`);
  assert.ok(Number(ys[0]) <= 6.2 && Number(ys[ys.length - 1]) >= 10.9, `y axis ${ys}`);
  const all = texts(svg).map((t) => t.body);
  assert.ok(all.includes("step") && all.includes("loss"));
  assert.match(svg, /<text [^>]*transform="rotate\(-90 [^"]*"[^>]*>loss<\/text>/, "rotated y title");
  // Train (150 points) stays a line; auto markers are for short series only.
  assert.equal(circles(svg).filter((c) => c.fill === "#1f77b4").length, 0);
  assert.equal(circles(svg).filter((c) => c.fill === "#d62728").length, 8, "a dot per val point");
});

Deno.test("lineChartSvg: two val points get markers where their steps are", () => {
  const svg = lineChartSvg("loss", [train(decaying(150)), val([[20, 9.1], [140, 6.3]])]);
  assertSane(svg);
  const dots = circles(svg).filter((c) => c.fill === "#d62728");
  const xt = ticks(svg, "xtick"), yt = ticks(svg, "ytick");
  // Map a step or loss to pixels from the tick labels' positions (first and last tick).
  const at = (t: Text[], pos: "x" | "y", v: number) => {
    const [a, b] = [t[0], t[t.length - 1]], [va, vb] = [Number(a.body), Number(b.body)];
    const off = pos === "y" ? -4 : 0; // y labels sit 4 px below their tick for centring
    return a[pos] + off + (v - va) / (vb - va) * (b[pos] - a[pos]);
  };
  for (const [step, loss] of [[20, 9.1], [140, 6.3]]) {
    assert.ok(
      dots.some((d) => Math.abs(d.cx - at(xt, "x", step)) < 0.3 && Math.abs(d.cy - at(yt, "y", loss)) < 0.3),
      `no marker at step ${step}, loss ${loss}: ${JSON.stringify(dots)}`,
    );
  }
});

Deno.test("lineChartSvg: a single point and a one-step span are visible and unduplicated", () => {
  for (const points of [[[144, 5.5]], [[144, 5.5], [145, 5.4]]] as [number, number][][]) {
    const svg = lineChartSvg("loss", [{ ...train(points), markers: false }]);
    assertSane(svg);
    for (const axis of ["xtick", "ytick"] as const) {
      const labels = ticks(svg, axis).map((t) => t.body);
      assert.equal(new Set(labels).size, labels.length, `duplicated ${axis} labels ${labels}`);
    }
    assert.ok(ticks(svg, "xtick").every((t) => Number.isInteger(Number(t.body))));
    if (points.length === 1) assert.equal(circles(svg).length, 1, "a lone point is drawn as a dot");
  }
});

Deno.test("lineChartSvg: NaN and Inf are marked at their steps and named in a note", () => {
  const points = decaying(30);
  points[10][1] = NaN;
  points[12][1] = Infinity;
  points[13][1] = -Infinity;
  const svg = lineChartSvg("loss", [train(points)]);
  assertSane(svg);
  const marks = [...svg.matchAll(/<path class="nonfinite" d="M([\d.]+),([\d.]+)/g)];
  assert.equal(marks.length, 3, "one mark per non-finite value");
  const top = Math.min(...ticks(svg, "ytick").map((t) => t.y - 4));
  assert.ok(marks.every((m) => Number(m[2]) < top), "marks sit above the top tick");
  const xs = marks.map((m) => Number(m[1]) + 4); // the × starts 4 px left of its step
  assert.ok(xs[0] < xs[1] && xs[1] < xs[2], "marks in step order");
  const note = texts(svg).find((t) => t.cls === "note");
  assert.equal(note?.body, "train: non-finite loss from step 10 (not drawn)");
  // The line breaks at the bad points instead of joining across them.
  assert.equal(svg.match(/<polyline/g)?.length, 2, "segments 0..9 and 14..29 (11 alone is a dot)");
});

Deno.test("lineChartSvg: a 1e30 divergence is clipped with short labels and a note", () => {
  const points = decaying(150).map((
    [s, y],
  ): [number, number] => [s, s < 100 ? y : s < 110 ? 3 * 10 ** (s - 99) : 1e30]);
  const svg = lineChartSvg("loss", [train(points), val([[0, 10.9], [100, 1e30]])]);
  assertSane(svg);
  const ys = ticks(svg, "ytick").map((t) => t.body);
  assert.ok(texts(svg).every((t) => t.cls !== "ytick" || t.body.length <= 6), `y labels ${ys}`);
  assert.ok(Number(ys[ys.length - 1]) <= 20, `y axis still shows the run, not the spike: ${ys}`);
  assert.ok((svg.match(/<path class="clipped"/g)?.length ?? 0) >= 51, "every clipped point is marked");
  const note = texts(svg).find((t) => t.cls === "note")?.body ?? "";
  assert.match(note, /^loss above 16(\.\d)? clipped to the top edge \(max 1e30\)$/);
});

Deno.test("lineChartSvg: values that are all huge get compact labels", () => {
  const svg = lineChartSvg("loss", [train([[0, 1e30], [1, 2e30], [2, 3e30]])]);
  assertSane(svg);
  const ys = ticks(svg, "ytick").map((t) => t.body);
  assert.ok(ys.every((l) => l.length <= 6 && /e30$|^0$/.test(l)), `${ys}`);
});

Deno.test("lineChartSvg: options, escaping and empty input", () => {
  const svg = lineChartSvg("a <b> & 'c'", [{ label: "x&y", color: "#000", points: [[0, 1], [1, 2]] }], {
    xLabel: "tokens",
    yLabel: "ms <p50>",
  });
  assertSane(svg);
  const bodies = texts(svg).map((t) => t.body);
  assert.ok(bodies.includes("a &lt;b&gt; &amp; &#39;c&#39;") && bodies.includes("x&amp;y"));
  assert.ok(bodies.includes("tokens") && bodies.includes("ms &lt;p50&gt;") && !bodies.includes("step"));
  const legend = texts(svg).find((t) => t.cls === "legend")!;
  assert.ok(legend.y > 30, "legend sits inside the plot, below the title");
  assertSane(lineChartSvg("empty", []));
  assertSane(lineChartSvg("empty", [train([])]));
});

Deno.test("clipLimit: a run that diverges within its first steps is clipped at its initial loss, noted compactly", () => {
  // -l 1e6 on a tiny model: 4.6 at step 1, then 1e13-scale losses (the shape of a real diverged run).
  const points: [number, number][] = [[1, 4.6], [2, 2.05e13], [3, 3.64e13], [4, 4.01e13], [5, 3.66e13], [6, 8.39e13]];
  const cap = clipLimit([train(points)]);
  assert.ok(Math.abs(cap - 6.9) < 1e-12, `cap ${cap}`);
  const svg = lineChartSvg("loss", [train(points)]);
  assertSane(svg);
  assert.ok(svg.includes("loss above 6.9 clipped to the top edge (max 8.39e13)"), svg);
  // A loss that merely doubles is drawn whole.
  assert.equal(clipLimit([train([[1, 10], [2, 9], [3, 20], [4, 8]])]), Infinity);
});
