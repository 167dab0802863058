/**
 * Per-kernel GPU timing from timestamp queries. While profiling, the runtime gives every op call (a "group" of
 * dispatches with one label, e.g. "matmulForward 256x768x2304") its own compute pass with begin and end
 * timestamps, instead of one pass per step; `collect` turns the timestamps into one row per label: calls, total
 * milliseconds, share of the profiled time and the achieved GFLOP/s (or GB/s for memory-bound ops).
 *
 * @module
 */
import { UserError } from "../util/errors.ts";

/** Work done by one op call, for the rate column. */
export interface Work {
  /** Floating-point operations (multiply-add = 2); rows with flops report GFLOP/s. */
  flops?: number;
  /** Bytes read plus written; rows without flops report GB/s. */
  bytes?: number;
}

/** One line of the profile table. */
export interface ProfileRow {
  name: string;
  calls: number;
  ms: number;
  /** Fraction of the total profiled GPU time, 0..1. */
  share: number;
  /** Achieved rate in `unit`, or undefined when the op declared no work. */
  rate?: number;
  unit?: "GFLOP/s" | "GB/s";
}

const QUERY_BYTES = 8;
const RESOLVE_ALIGN = 32; // queries per 256 bytes: resolveQuerySet offsets must be multiples of 256

/** Records timestamped compute passes and reads them back. Made by the runtime when profiling starts. */
export class GpuProfiler {
  readonly #device: GPUDevice;
  readonly #querySet: GPUQuerySet;
  readonly #resolve: GPUBuffer;
  readonly #capacity: number;
  #next = 0;
  #flushStart = 0;
  readonly #groups: { label: string; work: Work; query: number }[] = [];

  /**
   * @param device A device with `timestamp-query` enabled.
   * @param capacity Most timed op calls between `GpuProfiler` creation and `collect` (WebGPU allows 4096 queries
   *   per set: 2048 calls).
   */
  constructor(device: GPUDevice, capacity = 2048) {
    if (!device.features.has("timestamp-query")) {
      throw new UserError("--profile needs the WebGPU 'timestamp-query' feature, which this adapter lacks");
    }
    this.#device = device;
    this.#capacity = capacity;
    this.#querySet = device.createQuerySet({ type: "timestamp", count: 2 * capacity });
    this.#resolve = device.createBuffer({
      size: 2 * capacity * QUERY_BYTES,
      usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
    });
  }

  /**
   * Begins a compute pass whose duration is recorded under `label`.
   *
   * @param encoder The command encoder of the current flush.
   * @param label Row name.
   * @param work Work of the op call.
   * @returns The pass (the caller ends it).
   */
  beginPass(encoder: GPUCommandEncoder, label: string, work: Work): GPUComputePassEncoder {
    if (this.#next + 2 > 2 * this.#capacity) {
      throw new Error(`profiler: more than ${this.#capacity} timed op calls; collect() more often`);
    }
    const query = this.#next;
    this.#next += 2;
    this.#groups.push({ label, work, query });
    return encoder.beginComputePass({
      timestampWrites: { querySet: this.#querySet, beginningOfPassWriteIndex: query, endOfPassWriteIndex: query + 1 },
    });
  }

  /**
   * Resolves the queries written since the last flush (call once per flush, after the passes).
   *
   * @param encoder The command encoder of the current flush.
   */
  endFlush(encoder: GPUCommandEncoder): void {
    if (this.#next > this.#flushStart) {
      encoder.resolveQuerySet(
        this.#querySet,
        this.#flushStart,
        this.#next - this.#flushStart,
        this.#resolve,
        this.#flushStart * QUERY_BYTES,
      );
    }
    this.#next = Math.ceil(this.#next / RESOLVE_ALIGN) * RESOLVE_ALIGN;
    this.#flushStart = this.#next;
  }

  /**
   * Reads every resolved timestamp and aggregates them by label (call after the profiled work was flushed).
   *
   * @returns Rows sorted by time, largest first.
   */
  async collect(): Promise<ProfileRow[]> {
    const size = Math.max(this.#flushStart, 2) * QUERY_BYTES;
    const staging = this.#device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const encoder = this.#device.createCommandEncoder();
    encoder.copyBufferToBuffer(this.#resolve, 0, staging, 0, size);
    this.#device.queue.submit([encoder.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    const stamps = new BigInt64Array(staging.getMappedRange().slice(0));
    staging.unmap();
    staging.destroy();
    const byName = new Map<string, { calls: number; ns: number; flops: number; bytes: number }>();
    for (const g of this.#groups) {
      if (g.query >= this.#flushStart) continue; // recorded but never flushed
      const ns = Math.max(0, Number(stamps[g.query + 1] - stamps[g.query]));
      const row = byName.get(g.label) ?? { calls: 0, ns: 0, flops: 0, bytes: 0 };
      row.calls++;
      row.ns += ns;
      row.flops += g.work.flops ?? 0;
      row.bytes += g.work.bytes ?? 0;
      byName.set(g.label, row);
    }
    const totalNs = [...byName.values()].reduce((s, r) => s + r.ns, 0) || 1;
    const rows: ProfileRow[] = [];
    for (const [name, r] of byName) {
      const row: ProfileRow = { name, calls: r.calls, ms: r.ns / 1e6, share: r.ns / totalNs };
      if (r.ns > 0 && r.flops > 0) Object.assign(row, { rate: r.flops / r.ns, unit: "GFLOP/s" });
      else if (r.ns > 0 && r.bytes > 0) Object.assign(row, { rate: r.bytes / r.ns, unit: "GB/s" });
      rows.push(row);
    }
    return rows.sort((a, b) => b.ms - a.ms);
  }

  /** Frees the query set and its buffer. */
  destroy(): void {
    this.#querySet.destroy();
    this.#resolve.destroy();
  }
}

/**
 * Formats profile rows as an aligned text table with a total line.
 *
 * @param rows From `GpuProfiler.collect` (via `GpuOps.stopProfile`).
 * @returns The table.
 * @example
 * ```ts
 * import { formatProfile } from "./profiler.ts";
 * const text = formatProfile([{ name: "matmulForward", calls: 2, ms: 1.5, share: 1, rate: 900, unit: "GFLOP/s" }]);
 * if (!text.includes("matmulForward") || !text.includes("900")) throw new Error("bad table");
 * ```
 */
export function formatProfile(rows: readonly ProfileRow[]): string {
  const width = Math.max(6, ...rows.map((r) => r.name.length));
  const lines = [`${"kernel".padEnd(width)}  calls        ms   share          rate`];
  let total = 0;
  for (const r of rows) {
    total += r.ms;
    const rate = r.rate === undefined ? "" : `${r.rate.toFixed(r.rate < 10 ? 2 : 0)} ${r.unit}`;
    lines.push(
      `${r.name.padEnd(width)}  ${String(r.calls).padStart(5)}  ${r.ms.toFixed(3).padStart(8)}  ${
        (100 * r.share).toFixed(1).padStart(5)
      }%  ${rate.padStart(12)}`,
    );
  }
  lines.push(`${"total".padEnd(width)}  ${"".padStart(5)}  ${total.toFixed(3).padStart(8)}`);
  return lines.join("\n");
}
