/**
 * `loss.svg`: train and val loss against step as a self-contained SVG line chart (no dependencies), written at the
 * end of a training run next to `log.jsonl`.
 *
 * @module
 */

/** One series of (step, value) points. */
export interface Series {
  label: string;
  color: string;
  points: [number, number][];
  /** Draw a dot at every finite point. Default: on when the series has at most 30 points. */
  markers?: boolean;
}

/** Axis titles of {@linkcode lineChartSvg}. */
export interface ChartOptions {
  /** Title under the x axis; default `"step"`. */
  xLabel?: string;
  /** Rotated title left of the y axis; default `"loss"`. */
  yLabel?: string;
}

/** Options of {@linkcode niceTicks}. */
export interface TickOptions {
  /** Most ticks to return; default 8, at least 3 (a range around zero needs -s, 0, s). */
  maxCount?: number;
  /** Only integer ticks (step counts); default false. */
  integer?: boolean;
}

const W = 720, H = 420, PAD_L = 80, PAD_R = 20, PAD_T = 40, NOTE_H = 14, INSET = 10;
const AUTO_MARKERS = 30, HEAD_POINTS = 5, NONFINITE = "#d00000";

/**
 * Evenly spaced "nice" tick values covering [min, max]: the step is the smallest 1, 2, 2.5 or 5 × 10^k (Heckbert's
 * nice numbers) that needs at most `maxCount` ticks, and the first and last ticks are the multiples of the step at
 * or beyond min and max, so an axis drawn from the first to the last tick ends on a label. A zero-width range is
 * widened (±1 for integers, ±5% otherwise) so a single point still gets distinct ticks.
 *
 * @param min Smallest value to cover.
 * @param max Largest value to cover.
 * @param options Tick count limit and integer-only ticks.
 * @returns Ascending tick values, at least two, no duplicates.
 * @example
 * ```ts
 * import { niceTicks } from "./plot.ts";
 * const t = niceTicks(8.21, 10.9);
 * if (t.join(" ") !== "8 8.5 9 9.5 10 10.5 11") throw new Error(t.join(" "));
 * ```
 */
export function niceTicks(min: number, max: number, options: TickOptions = {}): number[] {
  const maxCount = Math.max(3, Math.floor(options.maxCount ?? 8)), integer = options.integer ?? false;
  if (!Number.isFinite(min + max)) throw new RangeError(`Pass a finite range to niceTicks, not ${min}..${max}`);
  if (min > max) [min, max] = [max, min];
  if (max - min <= Math.max(Math.abs(min), Math.abs(max)) * 1e-9) {
    const d = integer ? 1 : Math.abs(min) * 0.05 || 1;
    [min, max] = [min - d, max + d];
  }
  for (let k = Math.floor(Math.log10((max - min) / maxCount)) - 1;; k++) {
    for (const m of [1, 2, 2.5, 5]) {
      const step = k >= 0 ? m * 10 ** k : m / 10 ** -k;
      if (integer && !Number.isInteger(step)) continue;
      const first = Math.floor(min / step + 1e-9), last = Math.ceil(max / step - 1e-9);
      if (last - first + 1 > maxCount) continue;
      const ticks: number[] = [];
      for (let i = first; i <= last; i++) ticks.push(Number((i * step).toPrecision(12)) || 0);
      return ticks;
    }
  }
}

/**
 * Labels for evenly spaced ticks with at most the decimals their step needs, trailing zeros dropped (`9`, `9.5`,
 * `10`; `0.25`). Axes whose largest tick is at least 1e6 or below 1e-3 use compact exponents (`1e30`, `2.5e30`),
 * so labels stay short.
 *
 * @param ticks Ascending, evenly spaced values, e.g. from {@linkcode niceTicks}.
 * @returns One label per tick.
 * @example
 * ```ts
 * import { formatTicks } from "./plot.ts";
 * if (formatTicks([9, 9.5, 10]).join(" ") !== "9 9.5 10") throw new Error("decimals");
 * if (formatTicks([0, 5e29, 1e30]).join(" ") !== "0 5e29 1e30") throw new Error("exponents");
 * ```
 */
export function formatTicks(ticks: number[]): string[] {
  const step = ticks.length > 1 ? Math.abs(ticks[1] - ticks[0]) : Math.abs(ticks[0]) || 1;
  const mag = Math.max(...ticks.map(Math.abs));
  if (mag >= 1e6 || (mag > 0 && mag < 1e-3)) {
    return ticks.map((v) => {
      if (v === 0) return "0";
      const d = Math.min(6, decimals(step / 10 ** Math.floor(Math.log10(Math.abs(v)))));
      return v.toExponential(d).replace(/\.?0+e/, "e").replace("e+", "e");
    });
  }
  const d = Math.min(12, decimals(step));
  return ticks.map((v) => d ? v.toFixed(d).replace(/\.?0+$/, "") : v.toFixed(0));
}

/**
 * The value above which {@linkcode lineChartSvg} clips, so one divergence does not flatten the rest of the run.
 * Rule: `ref` is the median of the first finite values in step order (all series together; a tenth of them, at
 * least 1 and at most 5: for a training run, about the initial loss, robust to up to two early spikes, and not
 * yet the divergence of a short run) and `lo` the smallest finite value; the cap is
 * `ref + max(ref - lo, |ref|) / 2`, i.e. 1.5 × the initial loss for positive losses. Only a divergence is clipped:
 * when no value exceeds `ref` by 5 such spreads (6 × the initial loss), the whole range is drawn and this returns
 * Infinity.
 *
 * @param series The chart's series; non-finite values are ignored.
 * @returns The clip value, or Infinity.
 * @example
 * ```ts
 * import { clipLimit, type Series } from "./plot.ts";
 * const run = (y: number): Series[] => [{ label: "train", color: "blue", points: [[1, 10], [2, 9], [3, 8], [4, y]] }];
 * if (clipLimit(run(6)) !== Infinity) throw new Error("nothing to clip");
 * if (clipLimit(run(1e30)) !== 15) throw new Error("ref 10 (the first of 4 points) + max(10 - 8, 10) / 2");
 * ```
 */
export function clipLimit(series: Series[]): number {
  const points = series.flatMap((s) => s.points).filter((p) => Number.isFinite(p[1]));
  if (points.length === 0) return Infinity;
  const headCount = Math.min(HEAD_POINTS, Math.ceil(points.length / 10));
  const head = points.sort((a, b) => a[0] - b[0]).slice(0, headCount).map((p) => p[1]).sort((a, b) => a - b);
  const ref = head[Math.floor((head.length - 1) / 2)];
  const lo = Math.min(...points.map((p) => p[1]));
  const spread = Math.max(ref - lo, Math.abs(ref)) || 1;
  const max = Math.max(...points.map((p) => p[1]));
  return max > ref + 5 * spread ? ref + spread / 2 : Infinity;
}

/**
 * Renders series as an SVG line chart: nice ticks on both axes with a light grid, axis titles, a legend in the
 * inside corner that covers fewest points (top-right first) and dots on series with few points (or `markers: true`).
 * Values are never dropped silently: a NaN or ±Infinity is drawn as a red × on the top edge at its step, and values
 * above {@linkcode clipLimit} (a divergence) are drawn as triangles on the top edge; each adds a note under the chart.
 *
 * @param title Chart title.
 * @param series Lines to draw; empty series are skipped.
 * @param options Axis titles (`xLabel` default "step", `yLabel` default "loss").
 * @returns SVG document text.
 * @example
 * ```ts
 * import { lineChartSvg } from "./plot.ts";
 * const svg = lineChartSvg("loss", [
 *   { label: "train", color: "#1f77b4", points: [[1, 10.9], [2, 9.5], [3, NaN]] },
 *   { label: "val", color: "#d62728", points: [[2, 9.8]], markers: true },
 * ]);
 * if (!svg.startsWith("<svg") || !svg.includes("<circle") || !svg.includes("non-finite loss from step 3")) {
 *   throw new Error("not a loss chart");
 * }
 * ```
 */
export function lineChartSvg(title: string, series: Series[], options: ChartOptions = {}): string {
  const xLabel = options.xLabel ?? "step", yLabel = options.yLabel ?? "loss";
  const drawn = series.filter((s) => s.points.length > 0);
  const xs = drawn.flatMap((s) => s.points.map((p) => p[0])).filter(Number.isFinite);
  const cap = clipLimit(drawn);
  const ys = drawn.flatMap((s) => s.points.map((p) => p[1])).filter((y) => Number.isFinite(y) && y <= cap);
  const xt = xs.length ? niceTicks(Math.min(...xs), Math.max(...xs), { integer: xs.every(Number.isInteger) }) : [0, 1];
  // With clipping, the axis reaches the cap, so that the jump to the clipped marks reads as the divergence it is.
  const yMax = cap < Infinity ? cap : Math.max(...ys);
  const yt = ys.length ? niceTicks(Math.min(...ys), yMax) : [0, 1];
  const [x0, x1, y0, y1] = [xt[0], xt[xt.length - 1], yt[0], yt[yt.length - 1]];

  const notes: string[] = [];
  for (const s of drawn) {
    const bad = s.points.find((p) => !Number.isFinite(p[1]));
    if (bad) notes.push(`${s.label}: non-finite ${yLabel} from ${xLabel} ${bad[0]} (not drawn)`);
  }
  const clipped = drawn.flatMap((s) => s.points.map((p) => p[1])).filter((y) => Number.isFinite(y) && y > cap);
  if (clipped.length) {
    notes.push(`${yLabel} above ${compact(cap)} clipped to the top edge (max ${compact(Math.max(...clipped))})`);
  }

  // Data lie inside the frame inset by INSET px: points on the first or last tick stay off the axis lines, and
  // clipped or non-finite marks sit in the margin above the top tick.
  const bottom = H - 56 - notes.length * NOTE_H, right = W - PAD_R;
  const px = (x: number) => PAD_L + INSET + (x - x0) / (x1 - x0) * (right - PAD_L - 2 * INSET);
  const py = (y: number) => bottom - INSET - (Math.min(y, y1) - y0) / (y1 - y0) * (bottom - PAD_T - 2 * INSET);
  const midY = r((PAD_T + bottom) / 2);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" ` +
    `font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    text(W / 2, 24, escapeXml(title), 'text-anchor="middle" font-size="15"'),
    ...formatTicks(xt).flatMap((label, i) => [
      `<line x1="${r(px(xt[i]))}" y1="${PAD_T}" x2="${r(px(xt[i]))}" y2="${bottom}" stroke="#e8e8e8"/>`,
      text(px(xt[i]), bottom + 16, label, 'text-anchor="middle" class="xtick"'),
    ]),
    ...formatTicks(yt).flatMap((label, i) => [
      `<line x1="${PAD_L}" y1="${r(py(yt[i]))}" x2="${right}" y2="${r(py(yt[i]))}" stroke="#e8e8e8"/>`,
      text(PAD_L - 6, py(yt[i]) + 4, label, 'text-anchor="end" class="ytick"'),
    ]),
    `<rect x="${PAD_L}" y="${PAD_T}" width="${right - PAD_L}" height="${bottom - PAD_T}" fill="none" stroke="#888"/>`,
    text((PAD_L + right) / 2, bottom + 36, escapeXml(xLabel), 'text-anchor="middle"'),
    text(18, (PAD_T + bottom) / 2, escapeXml(yLabel), `text-anchor="middle" transform="rotate(-90 18 ${midY})"`),
    ...notes.map((note, i) => text(PAD_L, bottom + 54 + i * NOTE_H, escapeXml(note), 'class="note"')),
  ];

  const dots: [number, number][] = []; // pixel positions of everything drawn, to keep the legend off them
  for (const s of drawn) {
    const color = escapeXml(s.color), markers = s.markers ?? s.points.length <= AUTO_MARKERS;
    const segments: [number, number][][] = [[]]; // runs of finite points, split at non-finite ones
    for (const [x, y] of s.points.filter((p) => Number.isFinite(p[0]))) {
      if (Number.isFinite(y)) segments[segments.length - 1].push([x, y]);
      else {
        segments.push([]);
        const [cx, cy] = [r(px(x)), PAD_T + 4];
        dots.push([cx, cy]);
        out.push(
          `<path class="nonfinite" d="M${cx - 4},${cy - 4}L${cx + 4},${cy + 4}M${cx - 4},${cy + 4}L${cx + 4},` +
            `${cy - 4}" stroke="${NONFINITE}" stroke-width="2"/>`,
        );
      }
    }
    for (const seg of segments) {
      const pts = seg.map(([x, y]): [number, number] => [r(px(x)), r(py(y))]);
      dots.push(...pts);
      if (seg.length > 1) {
        out.push(
          `<polyline fill="none" stroke="${color}" stroke-width="1.5" stroke-linejoin="round" points="${
            pts.map((p) => p.join(",")).join(" ")
          }"/>`,
        );
      }
      seg.forEach(([, y], i) => {
        const [cx, cy] = pts[i];
        if (y > cap) out.push(`<path class="clipped" d="M${cx},${PAD_T}l-4,7h8z" fill="${color}"/>`);
        else if (markers || seg.length === 1) {
          out.push(`<circle cx="${cx}" cy="${cy}" r="3" fill="${color}" stroke="white" stroke-width="0.8"/>`);
        }
      });
    }
  }

  if (drawn.length) {
    // Legend corner: top-right, bottom-left, bottom-right or top-left, the first that covers fewest points.
    const boxW = 44 + Math.max(...drawn.map((s) => s.label.length)) * 7, boxH = 8 + drawn.length * 18;
    const [xl, xr, yt, yb] = [PAD_L + INSET, right - INSET - boxW, PAD_T + INSET + 4, bottom - INSET - boxH];
    const covered = ([bx, by]: number[]) =>
      dots.filter(([x, y]) => x >= bx - 4 && x <= bx + boxW + 4 && y >= by - 4 && y <= by + boxH + 4).length;
    const [bx, by] = [[xr, yt], [xl, yb], [xr, yb], [xl, yt]].reduce((a, b) => covered(b) < covered(a) ? b : a);
    out.push(
      `<rect x="${bx}" y="${by}" width="${boxW}" height="${boxH}" fill="white" fill-opacity="0.85" stroke="#ccc"/>`,
    );
    drawn.forEach((s, i) => {
      const ly = by + 13 + i * 18, color = escapeXml(s.color);
      out.push(`<line x1="${bx + 8}" y1="${ly}" x2="${bx + 28}" y2="${ly}" stroke="${color}" stroke-width="2"/>`);
      if (s.markers ?? s.points.length <= AUTO_MARKERS) {
        out.push(`<circle cx="${bx + 18}" cy="${ly}" r="3" fill="${color}"/>`);
      }
      out.push(text(bx + 34, ly + 4, escapeXml(s.label), 'class="legend"'));
    });
  }
  out.push("</svg>");
  return out.join("\n") + "\n";
}

/** A `<text>` element at (x, y) rounded to 0.1 px; `body` must already be escaped. */
function text(x: number, y: number, body: string, attrs: string): string {
  return `<text x="${r(x)}" y="${r(y)}" ${attrs}>${body}</text>`;
}

/** Rounds a coordinate to one decimal. */
function r(v: number): number {
  return Math.round(v * 10) / 10;
}

/** Smallest number of decimals that writes `step` exactly (0.25 -> 2, 5 -> 0). */
function decimals(step: number): number {
  let d = 0;
  while (d < 15 && Math.abs(Math.round(step * 10 ** d) - step * 10 ** d) > 1e-6 * step * 10 ** d) d++;
  return d;
}

/** Three significant digits, exponent without "+": 16.35 -> "16.4", 1e30 -> "1e30". */
/** Three significant digits; exponent form (5.47e13) from a million up and below 0.001. */
function compact(v: number): string {
  const big = Math.abs(v) >= 1e6 || (v !== 0 && Math.abs(v) < 1e-3);
  return big ? v.toExponential(2).replace(/\.?0+e/, "e").replace("e+", "e") : String(Number(v.toPrecision(3)));
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&#39;" })[c]!);
}
