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
}

const W = 720, H = 420, PAD_L = 64, PAD_R = 20, PAD_T = 36, PAD_B = 48;

/**
 * Renders series as an SVG line chart with axes, ticks and a legend.
 *
 * @param title Chart title.
 * @param series Lines to draw; empty series are skipped.
 * @returns SVG document text.
 * @example
 * ```ts
 * import { lineChartSvg } from "./plot.ts";
 * const svg = lineChartSvg("loss", [{ label: "train", color: "#1f77b4", points: [[1, 10.9], [2, 9.5]] }]);
 * if (!svg.startsWith("<svg") || !svg.includes("polyline")) throw new Error("not an svg chart");
 * ```
 */
export function lineChartSvg(title: string, series: Series[]): string {
  const drawn = series.filter((s) => s.points.length > 0);
  const xs = drawn.flatMap((s) => s.points.map((p) => p[0]));
  const ys = drawn.flatMap((s) => s.points.map((p) => p[1])).filter(Number.isFinite);
  const [x0, x1] = xs.length ? [Math.min(...xs), Math.max(...xs)] : [0, 1];
  const [y0, y1] = ys.length ? [Math.min(...ys), Math.max(...ys)] : [0, 1];
  const xSpan = x1 - x0 || 1, ySpan = y1 - y0 || 1;
  const px = (x: number) => PAD_L + (x - x0) / xSpan * (W - PAD_L - PAD_R);
  const py = (y: number) => H - PAD_B - (y - y0) / ySpan * (H - PAD_T - PAD_B);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">${escapeXml(title)}</text>`,
    `<line x1="${PAD_L}" y1="${H - PAD_B}" x2="${W - PAD_R}" y2="${H - PAD_B}" stroke="black"/>`,
    `<line x1="${PAD_L}" y1="${PAD_T}" x2="${PAD_L}" y2="${H - PAD_B}" stroke="black"/>`,
    `<text x="${(W + PAD_L) / 2}" y="${H - 10}" text-anchor="middle">step</text>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const xv = x0 + xSpan * i / 4, yv = y0 + ySpan * i / 4;
    out.push(`<text x="${px(xv)}" y="${H - PAD_B + 16}" text-anchor="middle">${Math.round(xv)}</text>`);
    out.push(`<text x="${PAD_L - 6}" y="${py(yv) + 4}" text-anchor="end">${yv.toFixed(2)}</text>`);
    out.push(`<line x1="${PAD_L}" y1="${py(yv)}" x2="${W - PAD_R}" y2="${py(yv)}" stroke="#eee"/>`);
  }
  drawn.forEach((s, i) => {
    const pts = s.points.filter((p) => Number.isFinite(p[1])).map((p) =>
      `${px(p[0]).toFixed(1)},${py(p[1]).toFixed(1)}`
    );
    out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="1.5" points="${pts.join(" ")}"/>`);
    const ly = PAD_T + 4 + i * 16;
    out.push(`<line x1="${W - 130}" y1="${ly}" x2="${W - 110}" y2="${ly}" stroke="${s.color}" stroke-width="2"/>`);
    out.push(`<text x="${W - 104}" y="${ly + 4}">${escapeXml(s.label)}</text>`);
  });
  out.push("</svg>");
  return out.join("\n") + "\n";
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"]/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;" })[c]!);
}
