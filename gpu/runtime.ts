/**
 * The GPU runtime: the command queue of a step, arenas, reads and writes (pipelines and bind groups come from
 * `pipelines.ts`).
 *
 * Kernels are not run when called: each `dispatch` appends (pipeline, bind group, uniform offset, workgroup
 * counts) to a pending list, and `flush` encodes the whole list into ONE compute pass of one command buffer and
 * submits it (barriers between dispatches are implicit in WebGPU). A flush happens only when the host needs data
 * (`read`), before host data is uploaded (`write`), or when the uniform ring fills up, so a training step is one or
 * two submits and the only waits are the reads the caller asks for.
 *
 * Nothing is created per step once the shapes have been seen: shader modules and layouts per kernel, pipelines per
 * (kernel, override values) and bind groups per (kernel, bound ranges) are cached, keyed by identity and value
 * tuples. Each dispatch's `Params` (sizes, tensor bases, AdamW's per-step scalars) go into a slot of one uniform
 * ring buffer, bound with a dynamic offset and uploaded with one `writeBuffer` per flush.
 *
 * @module
 */
import { UserError } from "../util/errors.ts";
import type { GpuContext, GpuLimits } from "./device.ts";
import { type KernelDescriptor, type OverrideValues, packParams } from "./kernel.ts";
import { PipelineCache, UNIFORM_SLOT } from "./pipelines.ts";
import { GpuProfiler, type Work } from "./profiler.ts";
import { formatBytes, type GpuArena, type GpuBinding, type GpuTensor, storageBytes, wordsOfHalves } from "./tensor.ts";
import { packHalves, unpackHalves } from "../util/f16.ts";

/** An allocation the device refused for lack of memory (not a validation error). */
export class GpuOutOfMemory extends UserError {}

/** Dispatches per flush before the ring forces an early flush. */
const RING_SLOTS = 8192;

interface Command {
  pipeline: GPUComputePipeline;
  bindGroup: GPUBindGroup;
  uniformOffset: number;
  x: number;
  y: number;
  z: number;
  group: number;
}

interface Copy {
  src: GPUBuffer;
  srcOffset: number;
  dst: GPUBuffer;
  dstOffset: number;
  size: number;
}

/** One dispatch: a kernel, its override values, bound ranges (in `storage` order), `Params` and workgroup counts. */
export interface DispatchSpec {
  kernel: KernelDescriptor;
  overrides?: OverrideValues;
  bindings: readonly GpuBinding[];
  params: Readonly<Record<string, number>>;
  /** Workgroup counts (x, y, z); each at most maxComputeWorkgroupsPerDimension. */
  groups: readonly [number, number?, number?];
}

/** Owns the device-side machinery shared by every op (see the module comment). */
export class GpuRuntime {
  readonly ctx: GpuContext;
  readonly device: GPUDevice;
  readonly limits: GpuLimits;
  readonly #cache: PipelineCache;
  readonly #ring: GPUBuffer;
  readonly #ringData = new ArrayBuffer(RING_SLOTS * UNIFORM_SLOT);
  readonly #ringView = new DataView(this.#ringData);
  #pending: Command[] = [];
  #submits = 0;
  #copies: Copy[] = [];
  #staging = new Map<number, GPUBuffer[]>();
  #profiler?: GpuProfiler;
  #profileWholePasses = false;
  #groups: { label: string; work: Work }[] = [];
  #group = -1;
  #scratch?: GpuArena;
  #dummy?: GpuBinding;

  /** @param ctx The device (from `getGpuDevice`). */
  constructor(ctx: GpuContext) {
    this.ctx = ctx;
    this.device = ctx.device;
    this.limits = ctx.limits;
    this.#ring = this.device.createBuffer({
      label: "uniform ring",
      size: this.#ringData.byteLength,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
    this.#cache = new PipelineCache(this.device, this.#ring, ctx.subgroupPreamble);
  }

  /** Command buffers submitted so far (tests check that a step is one submit). */
  get submitCount(): number {
    return this.#submits;
  }

  /** Dispatches recorded and not yet submitted. */
  get pendingCount(): number {
    return this.#pending.length;
  }

  /** Number of cached pipelines and bind groups (tests check that a second step creates none). */
  get cacheSizes(): { pipelines: number; bindGroups: number } {
    return this.#cache.sizes;
  }

  /**
   * Allocates an arena: one GPUBuffer per segment, zero-filled. Out-of-memory and validation failures become a
   * UserError naming the arena.
   *
   * @param name Role name for messages.
   * @param dtype Element type.
   * @param length Arena length in elements.
   * @param segments [start, length] element ranges (see `planSegments`); one segment of `length` by default.
   * @param slots The planned tensors (for messages).
   * @returns The arena.
   */
  async allocate(
    name: string,
    dtype: GpuArena["dtype"],
    length: number,
    segments?: readonly [number, number][],
    slots: GpuArena["slots"] = [],
  ): Promise<GpuArena> {
    this.device.pushErrorScope("out-of-memory");
    this.device.pushErrorScope("validation");
    const arena = this.createArena(name, dtype, length, segments, slots);
    const invalid = await this.device.popErrorScope();
    const oom = await this.device.popErrorScope();
    const err = oom ?? invalid;
    if (err) {
      for (const segment of arena.segments) segment.buffer.destroy();
      const message = `Cannot allocate GPU memory for '${name}' (${formatBytes(storageBytes(dtype, length))}): ${
        err.message.split("\n")[0]
      }`;
      throw oom ? new GpuOutOfMemory(message) : new UserError(message);
    }
    return arena;
  }

  /**
   * `allocate` without waiting for the error check (failures surface at the next flush or read). For small
   * internal buffers made while ops are being recorded.
   */
  createArena(
    name: string,
    dtype: GpuArena["dtype"],
    length: number,
    segments: readonly [number, number][] = [[0, length]],
    slots: GpuArena["slots"] = [],
  ): GpuArena {
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    return {
      name,
      dtype,
      length,
      slots,
      segments: segments.map(([start, n]) => ({
        start,
        length: n,
        buffer: this.device.createBuffer({
          label: name,
          size: Math.max(256, Math.ceil(storageBytes(dtype, n) / 256) * 256),
          usage,
        }),
      })),
    };
  }

  /**
   * A scratch tensor of at least `elements` f32 (partial sums of reductions). Its contents live until the next
   * call; consecutive dispatches may pass data through it.
   *
   * @param elements Minimum length.
   * @returns A tensor of exactly `elements`.
   */
  scratch(elements: number): GpuTensor {
    if (!this.#scratch || this.#scratch.length < elements) {
      // Bind groups made with the old buffer stay valid: pending dispatches keep using it.
      const length = Math.max(elements, 2 * (this.#scratch?.length ?? 0), 1 << 16);
      this.#scratch = this.createArena("scratch", "f32", length);
    }
    return { arena: this.#scratch, offset: 0, length: elements };
  }

  /** A 4-element read-only binding for optional inputs a kernel variant ignores (e.g. bias when HAS_BIAS is false). */
  get dummy(): GpuBinding {
    this.#dummy ??= {
      buffer: this.device.createBuffer({ label: "unused binding", size: 256, usage: GPUBufferUsage.STORAGE }),
      offset: 0,
      size: 256,
      base: 0,
      label: "unused",
    };
    return this.#dummy;
  }

  /**
   * Runs `body` with every dispatch it makes recorded under `label` (one row of the profile table). Groups nest:
   * an op's steps ("scores", "softmax" …) become rows "op › step" of their own.
   *
   * @param label Row name.
   * @param work Work of this call, for the rate column.
   * @param body Makes the dispatches.
   */
  group(label: string, work: Work, body: () => void): void {
    if (!this.#profiler) {
      body();
      return;
    }
    const parent = this.#groups[this.#group];
    this.#groups.push({ label: parent ? `${parent.label} › ${label}` : label, work });
    const outer = this.#group;
    this.#group = this.#groups.length - 1;
    try {
      body();
    } finally {
      this.#group = outer;
    }
  }

  /** Appends one dispatch to the pending pass (see `DispatchSpec`). */
  dispatch(spec: DispatchSpec): void {
    const { kernel, bindings } = spec;
    if (kernel.subgroups && !this.ctx.hasSubgroups) {
      throw new Error(`${kernel.name}: its subgroup form needs a device with the subgroups feature`);
    }
    if (kernel.f16 && !this.ctx.hasF16) throw new Error(`${kernel.name}: its f16 form needs a device with shader-f16`);
    const { pipeline, bindGroup } = this.#cache.get(kernel, spec.overrides ?? {}, bindings);
    if (this.#pending.length === RING_SLOTS) this.flush();
    const uniformOffset = this.#pending.length * UNIFORM_SLOT;
    packParams(kernel, this.#ringView, uniformOffset, bindings.map((b) => b.base), spec.params);
    const [x, y = 1, z = 1] = spec.groups;
    const max = this.limits.maxComputeWorkgroupsPerDimension;
    if (x > max || y > max || z > max) throw new Error(`${kernel.name}: dispatch (${x}, ${y}, ${z}) exceeds ${max}`);
    if (x === 0 || y === 0 || z === 0) return;
    this.#pending.push({ pipeline, bindGroup, uniformOffset, x, y, z, group: this.#group });
  }

  /** Encodes every pending dispatch into one compute pass (one per op call while profiling) and submits it. */
  flush(): void {
    this.ctx.check();
    if (this.#pending.length === 0 && this.#copies.length === 0) return;
    const encoder = this.device.createCommandEncoder();
    if (this.#pending.length > 0) {
      const profiler = this.#profiler;
      let pass: GPUComputePassEncoder | undefined;
      let passGroup = -2;
      let pipeline: GPUComputePipeline | undefined;
      const perOp = profiler && !this.#profileWholePasses;
      for (const c of this.#pending) {
        if (!pass || (perOp && c.group !== passGroup)) {
          pass?.end();
          const g = this.#groups[c.group];
          pass = perOp && g
            ? profiler.beginPass(encoder, g.label, g.work)
            : profiler
            ? profiler.beginPass(encoder, "whole passes", {})
            : encoder.beginComputePass();
          passGroup = c.group;
          pipeline = undefined;
        }
        if (c.pipeline !== pipeline) pass.setPipeline(c.pipeline);
        pipeline = c.pipeline;
        pass.setBindGroup(0, c.bindGroup, [c.uniformOffset]);
        pass.dispatchWorkgroups(c.x, c.y, c.z);
      }
      pass!.end();
      profiler?.endFlush(encoder);
      this.device.queue.writeBuffer(this.#ring, 0, this.#ringData, 0, this.#pending.length * UNIFORM_SLOT);
    }
    for (const c of this.#copies) encoder.copyBufferToBuffer(c.src, c.srcOffset, c.dst, c.dstOffset, c.size);
    this.device.queue.submit([encoder.finish()]);
    this.#submits++;
    this.#pending = [];
    this.#copies = [];
  }

  /**
   * Copies a tensor to the host (flushing pending work first). Alignment gaps of an arena read as zero.
   *
   * @param t The tensor.
   * @returns Its elements as raw 32-bit words in a Float32Array (reinterpret for i32 arenas); an f16 tensor's
   *   halves as their float values.
   */
  async read(t: GpuTensor): Promise<Float32Array> {
    if (t.arena.dtype === "f16") {
      const words = await this.read(wordsOfHalves(t));
      return unpackHalves(new Uint32Array(words.buffer), t.length);
    }
    const size = t.length * 4;
    if (size === 0) return new Float32Array(0);
    const staging = this.#takeStaging(size);
    for (const seg of t.arena.segments) {
      const lo = Math.max(t.offset, seg.start);
      const hi = Math.min(t.offset + t.length, seg.start + seg.length);
      if (lo >= hi) continue;
      this.#copies.push({
        src: seg.buffer,
        srcOffset: (lo - seg.start) * 4,
        dst: staging,
        dstOffset: (lo - t.offset) * 4,
        size: (hi - lo) * 4,
      });
    }
    this.flush();
    try {
      await staging.mapAsync(GPUMapMode.READ, 0, staging.size);
    } catch (err) {
      // A lost device or an uncaptured error is reported by an event that may come a task later: wait for it so
      // the message names the cause.
      await new Promise((resolve) => setTimeout(resolve, 0));
      this.ctx.check();
      throw new UserError(`Reading from the GPU failed: ${(err as Error).message}`);
    }
    const out = new Float32Array(staging.getMappedRange(0, size).slice(0));
    staging.unmap();
    this.#giveStaging(staging);
    this.ctx.check();
    return out;
  }

  /**
   * Uploads host data into a tensor, after flushing pending work (so earlier dispatches see the earlier data).
   *
   * @param t The tensor.
   * @param data Exactly `t.length` elements (an f16 tensor's values, rounded to the nearest half).
   */
  write(t: GpuTensor, data: Float32Array | Int32Array): void {
    if (data.length !== t.length) {
      throw new RangeError(`write of ${data.length} elements into a tensor of ${t.length}`);
    }
    if (t.arena.dtype === "f16") {
      if (t.length % 2 !== 0) throw new RangeError(`f16 writes cover whole words; ${t.length} halves is odd`);
      return this.write(wordsOfHalves(t), new Float32Array(packHalves(data).buffer));
    }
    this.flush();
    // writeBuffer takes views of plain ArrayBuffers; copy views of shared memory (the CPU backend's) first.
    const plain = (data.buffer instanceof ArrayBuffer ? data : data.slice()) as Float32Array<ArrayBuffer>;
    for (const seg of t.arena.segments) {
      const lo = Math.max(t.offset, seg.start);
      const hi = Math.min(t.offset + t.length, seg.start + seg.length);
      if (lo >= hi) continue;
      this.device.queue.writeBuffer(seg.buffer, (lo - seg.start) * 4, plain, lo - t.offset, hi - lo);
    }
  }

  /**
   * Starts timing every op call in its own compute pass (see `profiler.ts`), or each flush's one pass as a whole.
   *
   * @param options `wholePasses`: one timed pass per flush, recorded under "whole passes".
   */
  startProfile(options: { wholePasses?: boolean } = {}): void {
    this.flush();
    this.#profileWholePasses = options.wholePasses ?? false;
    this.#profiler?.destroy();
    this.#profiler = new GpuProfiler(this.device);
    this.#groups = [];
  }

  /** Stops profiling and returns the table rows of the op calls made since `startProfile`. */
  async stopProfile(): Promise<import("./profiler.ts").ProfileRow[]> {
    const profiler = this.#profiler;
    if (!profiler) throw new Error("stopProfile without startProfile");
    this.flush();
    this.#profiler = undefined;
    const rows = await profiler.collect();
    profiler.destroy();
    this.ctx.check();
    return rows;
  }

  #takeStaging(size: number): GPUBuffer {
    const bucket = 2 ** Math.ceil(Math.log2(Math.max(size, 256)));
    return this.#staging.get(bucket)?.pop() ??
      this.device.createBuffer({
        label: "staging",
        size: bucket,
        usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      });
  }

  #giveStaging(buffer: GPUBuffer): void {
    const list = this.#staging.get(buffer.size) ?? [];
    list.push(buffer);
    this.#staging.set(buffer.size, list);
  }
}
