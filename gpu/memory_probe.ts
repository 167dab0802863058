/**
 * How much memory a WebGPU device has free, measured: WebGPU reports no memory size, so after an out-of-memory
 * failure `createGpuModel` probes what is left to say which batch would fit.
 *
 * @module
 */

/**
 * How many more bytes `device` can allocate, up to `limit`: buffers of up to 1 GiB are created until one fails or
 * `limit` is reached, then all destroyed.
 *
 * @param device The device.
 * @param maxBufferSize Its largest buffer, in bytes.
 * @param limit The most bytes worth probing.
 * @returns Bytes allocated before the first failure (a multiple of the probe size, or `limit`).
 */
export async function probeFreeBytes(device: GPUDevice, maxBufferSize: number, limit: number): Promise<number> {
  const chunk = Math.min(2 ** 30, maxBufferSize);
  const probes: GPUBuffer[] = [];
  let bytes = 0;
  try {
    while (bytes < limit) {
      device.pushErrorScope("out-of-memory");
      device.pushErrorScope("validation");
      const buffer = device.createBuffer({ label: "memory probe", size: chunk, usage: GPUBufferUsage.STORAGE });
      const invalid = await device.popErrorScope();
      const oom = await device.popErrorScope();
      probes.push(buffer);
      if (invalid || oom) break;
      bytes += chunk;
    }
  } finally {
    for (const b of probes) b.destroy();
  }
  return Math.min(bytes, limit);
}
