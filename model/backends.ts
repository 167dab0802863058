/**
 * Backend choice for every command that computes (`--device auto|gpu|cpu`): `auto` uses WebGPU when an adapter
 * exists and the model fits in it, otherwise the CPU, and says which it picked in one line.
 *
 * @module
 */
import { CpuKernels } from "../cpu/kernels.ts";
import { UsageError } from "../util/errors.ts";
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
 * Builds an empty model (parameters zero) for `cfg` at batch B, sequence T on the chosen backend.
 *
 * @param cfg Model shape.
 * @param B Batch size.
 * @param T Sequence length.
 * @param device `--device` value.
 * @returns The model and where it runs.
 */
export async function createModel(cfg: GPT2Config, B: number, T: number, device: DeviceChoice): Promise<PlacedModel> {
  if (device === "gpu") {
    throw new UsageError("--device gpu: the WebGPU training backend is not wired into this command yet; use cpu");
  }
  const threads = navigator.hardwareConcurrency;
  const model = await createCpuModel(cfg, B, T, { kernels: (memory) => CpuKernels.create(memory, threads) });
  return { model, device: "cpu", description: `cpu (${threads} threads, WebAssembly SIMD)` };
}
