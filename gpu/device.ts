/**
 * The WebGPU device: one per process, requested with the adapter's own limits (so large bindings, buffers and
 * workgroup memory are available) and the optional features it has (`shader-f16`, `timestamp-query`). A lost device
 * and uncaptured errors (validation, out of memory, internal) are recorded and turned into a one-line UserError at
 * the next submit or read, so a failure never hangs and never prints a stack trace.
 *
 * @module
 */
import { UserError } from "../util/errors.ts";

/** The adapter limits the backend requests and relies on (all at the adapter's maximum). */
const REQUESTED_LIMITS = [
  "maxStorageBufferBindingSize",
  "maxBufferSize",
  "maxComputeWorkgroupStorageSize",
  "maxStorageBuffersPerShaderStage",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupSizeX",
  "maxComputeWorkgroupsPerDimension",
  "maxUniformBufferBindingSize",
] as const;

/** The limits the backend reads, copied from the device. */
export interface GpuLimits {
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
  maxComputeWorkgroupStorageSize: number;
  maxStorageBuffersPerShaderStage: number;
  maxComputeInvocationsPerWorkgroup: number;
  maxComputeWorkgroupSizeX: number;
  maxComputeWorkgroupsPerDimension: number;
  maxUniformBufferBindingSize: number;
  minStorageBufferOffsetAlignment: number;
  minUniformBufferOffsetAlignment: number;
}

/** A device plus what the backend needs to know about it. */
export interface GpuContext {
  device: GPUDevice;
  /** One line naming the adapter (e.g. "llvmpipe (LLVM 15.0.6, 256 bits)" or "NVIDIA H200"). */
  description: string;
  limits: GpuLimits;
  /** Whether `shader-f16` was enabled (not used by the kernels yet). */
  hasF16: boolean;
  /** Whether `timestamp-query` was enabled (the profiler needs it). */
  hasTimestamps: boolean;
  /**
   * Whether `subgroups` was enabled: kernels with a subgroup form use it (`KernelDescriptor.subgroups`), the others
   * their workgroup-memory twin.
   */
  hasSubgroups: boolean;
  /**
   * What a WGSL module that uses subgroup builtins starts with here: `enable subgroups;` in browsers; nothing in
   * Deno, whose WGSL parser rejects the line although its device runs the builtins.
   */
  subgroupPreamble: string;
  /** Whether the adapter is a software fallback (llvmpipe): a correctness device, slow to compile and run. */
  isFallback: boolean;
  /** Throws a UserError if the device was lost or reported an uncaptured error since the last check. */
  check(): void;
}

let shared: Promise<GpuContext> | undefined;

/**
 * The process's WebGPU device, created on first use. Fails with a UserError when there is no adapter.
 *
 * @returns The shared device context.
 * @throws UserError "No WebGPU adapter found …" when `navigator.gpu` is missing or returns no adapter.
 * @example
 * ```ts
 * import { getGpuDevice } from "./device.ts";
 * const gpu = await getGpuDevice();
 * if (gpu.limits.maxStorageBufferBindingSize < 128 * 2 ** 20) throw new Error("less than WebGPU's default");
 * ```
 */
export function getGpuDevice(): Promise<GpuContext> {
  if (!shared) {
    shared = requestGpuDevice(navigator.gpu);
    shared.then(
      // Left to process teardown, Deno 2.9's WebGPU on llvmpipe sometimes aborts ("double free or corruption")
      // after the program's work is done; destroying the device first makes that rare.
      ({ device }) => globalThis.addEventListener("unload", () => device.destroy()),
      () => shared = undefined, // a failed attempt may be retried
    );
  }
  return shared;
}

/**
 * Whether a WebGPU adapter exists in this process (used by `--device auto` and by tests' `ignore` flags).
 *
 * @returns True when `navigator.gpu.requestAdapter()` returns an adapter.
 */
export async function gpuAdapterAvailable(): Promise<boolean> {
  try {
    return (await navigator.gpu?.requestAdapter()) != null;
  } catch {
    return false;
  }
}

/**
 * Creates a new device context (most callers want the shared one from `getGpuDevice`).
 *
 * @param gpu The WebGPU entry point (`navigator.gpu`, undefined where WebGPU is missing).
 * @returns The context.
 * @throws UserError "No WebGPU adapter found; use --device cpu" when there is no adapter.
 */
export async function requestGpuDevice(gpu: GPU | undefined): Promise<GpuContext> {
  const adapter = await gpu?.requestAdapter({ powerPreference: "high-performance" }).catch(() => null);
  if (!adapter) throw new UserError("No WebGPU adapter found; use --device cpu");
  const requiredLimits: Record<string, number> = {};
  for (const name of REQUESTED_LIMITS) requiredLimits[name] = adapter.limits[name];
  const wanted: GPUFeatureName[] = ["shader-f16", "timestamp-query"];
  const requiredFeatures = wanted.filter((f) => adapter.features.has(f));
  // Subgroups: browsers list the feature; Deno's wgpu can grant it without listing it (NVIDIA through Vulkan), so
  // there it is asked for and, refused (a TypeError: not a subset of the adapter's features), dropped.
  const inDeno = "Deno" in globalThis;
  const subgroups: GPUFeatureName[] = adapter.features.has("subgroups") || inDeno
    ? ["subgroups" as GPUFeatureName]
    : [];
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredLimits, requiredFeatures: [...requiredFeatures, ...subgroups] })
      .catch((err) => {
        if (!(err instanceof TypeError) || subgroups.length === 0) throw err;
        return adapter.requestDevice({ requiredLimits, requiredFeatures });
      });
  } catch (err) {
    throw new UserError(`Cannot create a WebGPU device (${(err as Error).message}); use --device cpu`);
  }
  let failure: string | undefined;
  let lost: string | undefined;
  device.lost.then((info) => {
    lost = `WebGPU device lost (${info.message || info.reason})`;
    if (info.reason !== "destroyed") failure ??= lost;
  });
  device.addEventListener("uncapturederror", (event) => {
    event.preventDefault();
    const error = (event as GPUUncapturedErrorEvent).error;
    // Some errors come without a message (Deno 2.9.6, a pipeline over the device's workgroup memory): name the type.
    const message = error?.message || `${error?.constructor?.name ?? "an error"} without a message`;
    failure ??= `WebGPU error: ${firstLine(message)}`;
  });
  const l = device.limits;
  const limits: GpuLimits = {
    maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
    maxBufferSize: l.maxBufferSize,
    maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
    maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
    maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
    maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
    maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
    maxUniformBufferBindingSize: l.maxUniformBufferBindingSize,
    minStorageBufferOffsetAlignment: l.minStorageBufferOffsetAlignment,
    minUniformBufferOffsetAlignment: l.minUniformBufferOffsetAlignment,
  };
  const info = adapter.info;
  return {
    device,
    description: info.description || [info.vendor, info.architecture, info.device].filter(Boolean).join(" "),
    limits,
    hasF16: device.features.has("shader-f16"),
    hasTimestamps: device.features.has("timestamp-query"),
    hasSubgroups: device.features.has("subgroups"),
    subgroupPreamble: inDeno ? "" : "enable subgroups;\n",
    isFallback: info.isFallbackAdapter ?? false,
    check() {
      if (failure !== undefined) {
        const message = failure;
        failure = undefined;
        throw new UserError(message);
      }
      if (lost !== undefined) throw new UserError(lost); // work after destroy(): every later check fails too
    },
  };
}

/** The first non-blank line of a WebGPU error message (wgpu's shader errors start with a newline). */
function firstLine(message: string): string {
  return message.split("\n").map((line) => line.trim()).find((line) => line !== "") ?? "(no message)";
}
