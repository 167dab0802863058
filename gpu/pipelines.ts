/**
 * Pipelines and bind groups, each made once: a shader module, bind-group layout and pipeline layout per kernel;
 * a pipeline per (kernel, override values); a bind group per (kernel, bound buffer ranges). Keys are tuples of
 * objects and numbers (`TupleCache`), never strings assembled by hand. Binding 0 of every kernel is its `Params`
 * slot in the runtime's uniform ring, bound with a dynamic offset so one bind group serves every dispatch of the
 * same tensors whatever their per-dispatch values.
 *
 * @module
 */
import { TupleCache } from "./_cache.ts";
import { type KernelDescriptor, type OverrideValues, paramsByteSize } from "./kernel.ts";
import type { GpuBinding } from "./tensor.ts";

/** Bytes reserved per dispatch in the uniform ring (≥ every Params struct and every offset alignment). */
export const UNIFORM_SLOT = 256;

interface KernelObjects {
  module: GPUShaderModule;
  bindGroupLayout: GPUBindGroupLayout;
  pipelineLayout: GPUPipelineLayout;
  /** `Object.keys(kernel.overrides)`, made once. */
  overrideNames: readonly string[];
}

/** The cache (see the module comment). */
export class PipelineCache {
  readonly #device: GPUDevice;
  readonly #ring: GPUBuffer;
  readonly #subgroupPreamble: string;
  readonly #kernels = new Map<KernelDescriptor, KernelObjects>();
  readonly #pipelines = new TupleCache<GPUComputePipeline>();
  readonly #bindGroups = new TupleCache<GPUBindGroup>();

  /**
   * @param device The device.
   * @param ring The uniform ring buffer every bind group's binding 0 points into.
   * @param subgroupPreamble What a kernel using subgroup builtins starts with on this device (see `GpuContext`).
   */
  constructor(device: GPUDevice, ring: GPUBuffer, subgroupPreamble = "") {
    this.#device = device;
    this.#ring = ring;
    this.#subgroupPreamble = subgroupPreamble;
  }

  /** Number of pipelines and bind groups made so far. */
  get sizes(): { pipelines: number; bindGroups: number } {
    return { pipelines: this.#pipelines.size, bindGroups: this.#bindGroups.size };
  }

  /**
   * The pipeline and bind group of one dispatch, made on first use.
   *
   * @param kernel The kernel.
   * @param overrides Override values (missing ones keep the WGSL defaults).
   * @param bindings The bound ranges, in the kernel's `storage` order.
   * @returns Both objects.
   * @throws Error when a buffer would be bound read-only and writable at once (WebGPU forbids it).
   */
  get(
    kernel: KernelDescriptor,
    overrides: OverrideValues,
    bindings: readonly GpuBinding[],
  ): { pipeline: GPUComputePipeline; bindGroup: GPUBindGroup } {
    const objects = this.#kernelObjects(kernel);
    checkUsage(kernel, bindings);
    const key: unknown[] = [kernel];
    for (const name of objects.overrideNames) key.push(overrides[name] ?? kernel.overrides[name]);
    const pipeline = this.#pipelines.get(key, () => this.#makePipeline(kernel, objects, overrides));
    const bgKey: unknown[] = [objects.bindGroupLayout];
    for (const b of bindings) bgKey.push(b.buffer, b.offset, b.size);
    const bindGroup = this.#bindGroups.get(bgKey, () =>
      this.#device.createBindGroup({
        label: kernel.name,
        layout: objects.bindGroupLayout,
        entries: [
          { binding: 0, resource: { buffer: this.#ring, offset: 0, size: UNIFORM_SLOT } },
          ...bindings.map((b, i) => ({
            binding: i + 1,
            resource: { buffer: b.buffer, offset: b.offset, size: b.size },
          })),
        ],
      }));
    return { pipeline, bindGroup };
  }

  #kernelObjects(kernel: KernelDescriptor): KernelObjects {
    let objects = this.#kernels.get(kernel);
    if (!objects) {
      const code = kernel.subgroups ? this.#subgroupPreamble + kernel.source : kernel.source;
      const module = this.#device.createShaderModule({ label: kernel.name, code });
      const bindGroupLayout = this.#device.createBindGroupLayout({
        label: kernel.name,
        entries: [
          {
            binding: 0,
            visibility: GPUShaderStage.COMPUTE,
            buffer: { type: "uniform", hasDynamicOffset: true, minBindingSize: paramsByteSize(kernel) },
          },
          ...kernel.storage.map((s, i) => ({
            binding: i + 1,
            visibility: GPUShaderStage.COMPUTE,
            buffer: { type: s.access === "read" ? "read-only-storage" as const : "storage" as const },
          })),
        ],
      });
      const pipelineLayout = this.#device.createPipelineLayout({ bindGroupLayouts: [bindGroupLayout] });
      objects = { module, bindGroupLayout, pipelineLayout, overrideNames: Object.keys(kernel.overrides) };
      this.#kernels.set(kernel, objects);
    }
    return objects;
  }

  #makePipeline(kernel: KernelDescriptor, objects: KernelObjects, overrides: OverrideValues): GPUComputePipeline {
    const constants: Record<string, number> = {};
    for (const [name, value] of Object.entries(overrides)) {
      if (!(name in kernel.overrides)) throw new Error(`${kernel.name} has no override ${name}`);
      constants[name] = Number(value);
    }
    return this.#device.createComputePipeline({
      label: kernel.name,
      layout: objects.pipelineLayout,
      compute: { module: objects.module, entryPoint: kernel.name, constants },
    });
  }
}

/** WebGPU rejects a buffer bound read-only and writable in one dispatch; say which tensors collide instead. */
function checkUsage(kernel: KernelDescriptor, bindings: readonly GpuBinding[]): void {
  if (bindings.length !== kernel.storage.length) {
    throw new Error(`${kernel.name}: ${bindings.length} bindings for ${kernel.storage.length} storage buffers`);
  }
  for (let i = 0; i < bindings.length; i++) {
    if (kernel.storage[i].access !== "read_write") continue;
    for (let j = 0; j < bindings.length; j++) {
      if (kernel.storage[j].access === "read" && bindings[j].buffer === bindings[i].buffer) {
        throw new Error(
          `${kernel.name}: '${bindings[j].label}' (read) and '${bindings[i].label}' (written) share one GPU buffer; ` +
            "pass tensors from different planned slots",
        );
      }
    }
  }
}
