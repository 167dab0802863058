/**
 * Backend choice for every command that computes (`--device auto|gpu|cpu`): `auto` uses WebGPU when an adapter
 * exists and the model fits in it, otherwise the CPU, and says which it picked in one line.
 *
 * @module
 */
import { CpuKernels } from "../cpu/kernels.ts";
import { getGpuDevice } from "../gpu/device.ts";
import type { F16Math } from "../gpu/_gemm.ts";
import { createGpuModel, type ModelPlanOptions, type Precision } from "./gpu_model.ts";
import { UsageError, UserError } from "../util/errors.ts";
import type { GPT2Config } from "./config.ts";
import { createCpuModel } from "./cpu_model.ts";
import type { GPT2 } from "./gpt2.ts";

/** Values of `--device`. */
export const DEVICE_CHOICES = ["auto", "gpu", "cpu"] as const;
/** One of the `--device` values. */
export type DeviceChoice = typeof DEVICE_CHOICES[number];

/** A model on the backend that was picked, with a one-line description of it. */
export interface PlacedModel {
  // deno-lint-ignore no-explicit-any
  model: GPT2<any, any>;
  device: "cpu" | "gpu";
  /** e.g. "cpu (2 threads, WebAssembly SIMD)". */
  description: string;
  /** What the matmuls read the weights as (`--precision`, resolved). */
  precision: Precision;
}

/**
 * Checks a `--device` value.
 *
 * @param value The flag's value.
 * @returns The value, typed.
 */
export function parseDeviceChoice(value: string): DeviceChoice {
  if ((DEVICE_CHOICES as readonly string[]).includes(value)) return value as DeviceChoice;
  throw new UsageError(`--device: unknown device '${value}'; use auto, gpu or cpu`);
}

/**
 * Builds an empty model (parameters zero) for `cfg` at batch B, sequence T on the chosen backend. `auto` takes the
 * GPU when there is a hardware adapter and the model fits in it; a software adapter (llvmpipe, SwiftShader) is
 * slower than the CPU backend, so `auto` passes it over. The choice is reported through `say`.
 *
 * @param cfg Model shape.
 * @param B Batch size.
 * @param T Sequence length.
 * @param device `--device` value.
 * @param options `say` receives one line explaining an automatic choice (default: stderr); `attention` and
 *   `training` plan the model (`ModelPlanOptions`: materialized attention and a training model by default).
 * @returns The model and where it runs.
 */
export async function createModel(
  cfg: GPT2Config,
  B: number,
  T: number,
  device: DeviceChoice,
  options: Omit<ModelPlanOptions, "precision"> & {
    precision?: PrecisionChoice;
    say?: (line: string) => void;
    /** Which GPU matmuls compute in native f16 (`GpuExecutorOptions.matmulF16Math`; default "none"). */
    f16Math?: F16Math;
    /** Whether GPU matmuls read contiguous rows or columns a vec4 a load (`GpuExecutorOptions.matmulVec4Loads`). */
    vec4Loads?: boolean;
    /** Whether, with them, a k-contiguous A is read a vec4 along k (`GpuExecutorOptions.matmulVec4AlongK`). */
    vec4AlongK?: boolean;
  } = {},
): Promise<PlacedModel> {
  const say = options.say ?? ((line: string) => console.error(line));
  const plan = { attention: options.attention, training: options.training, rowsInFlight: options.rowsInFlight };
  const choice = options.precision ?? "fp32";
  // "auto": f16 where the adapter has shader-f16 (as llm.c defaults to bf16 on a GPU), float32 elsewhere.
  const precisionOn = async (where: "cpu" | "gpu"): Promise<Precision> =>
    choice !== "auto" ? choice : where === "gpu" && (await getGpuDevice()).hasF16 ? "f16" : "fp32";
  const gpuModel = async (): Promise<PlacedModel> => {
    const precision = await precisionOn("gpu");
    const model = await createGpuModel(cfg, B, T, {
      ...plan,
      precision,
      matmulF16Math: options.f16Math,
      matmulVec4Loads: options.vec4Loads,
      matmulVec4AlongK: options.vec4AlongK,
    });
    return { model, device: "gpu", description: model.exec.description, precision: model.precision };
  };
  if (device === "gpu") return await gpuModel();
  if (device === "auto") {
    const gpu = await getGpuDevice().catch((err) => err as Error);
    if (gpu instanceof Error) {
      say(`device auto: ${gpu.message.replace(/; use --device cpu$/, "")}; using the CPU`);
    } else if (gpu.isFallback) {
      say(`device auto: the WebGPU adapter is a software renderer (${gpu.description}); using the CPU`);
    } else {
      try {
        return await gpuModel();
      } catch (err) {
        if (!(err instanceof UserError)) throw err;
        say(`device auto: ${err.message}; using the CPU`);
      }
    }
  }
  const threads = navigator.hardwareConcurrency;
  const kernels = (memory: WebAssembly.Memory) => CpuKernels.create(memory, threads);
  const model = await createCpuModel(cfg, B, T, { kernels, ...plan, precision: await precisionOn("cpu") });
  return { model, device: "cpu", description: model.exec.description, precision: model.precision };
}

/** Values of `--precision`. */
export const PRECISION_CHOICES = ["fp32", "f16", "auto"] as const;
/** One of the `--precision` values. */
export type PrecisionChoice = typeof PRECISION_CHOICES[number];

/**
 * Checks a `--precision` value.
 *
 * @param value The flag's value.
 * @returns The choice.
 * @throws UsageError for anything but fp32, f16 or auto.
 */
export function parsePrecisionChoice(value: string): PrecisionChoice {
  if ((PRECISION_CHOICES as readonly string[]).includes(value)) return value as PrecisionChoice;
  throw new UsageError(`--precision: unknown precision '${value}'; use fp32, f16 or auto`);
}

/** Which GPU matmuls may compute in native f16 (`--f16-math`). */
export const F16_MATH_CHOICES: readonly F16Math[] = ["none", "weights", "all"];

/**
 * Parses `--f16-math`.
 *
 * @param value The flag's value.
 * @returns The choice.
 * @throws UsageError naming the choices.
 */
export function parseF16Math(value: string): F16Math {
  if ((F16_MATH_CHOICES as readonly string[]).includes(value)) return value as F16Math;
  throw new UsageError(`--f16-math: unknown choice '${value}'; use ${F16_MATH_CHOICES.join(", ")}`);
}
