/**
 * What one GPU round trip costs in Deno: a submission of known GPU length (a busy FMA kernel, four dispatches in one
 * pass, timed with timestamps) and then `mapAsync` of a small buffer it wrote, wall-clock from `submit` to the map.
 * The difference is the wait's own cost: Deno's map loop polls, then sleeps 10 ms, so expect the GPU time plus up
 * to ~10-12 ms. (On the H200, 2026-12-01: 4.6 ms of work waited 16 ms, 46 ms waited 58, 461 waited 473.)
 *
 *     deno run -A dev/bench_wait.ts [--iterations 10000,100000,1000000] [--reps 6]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { getGpuDevice } from "../gpu/device.ts";

const { values } = parseArgs({
  options: {
    iterations: { type: "string", default: "10000,100000,1000000" },
    reps: { type: "string", default: "6" },
  },
});
const { device, description, hasTimestamps } = await getGpuDevice();
if (!hasTimestamps) {
  console.error(`${description}: no timestamp-query, so the GPU time cannot be told apart from the wait`);
  Deno.exit(1);
}
const module = device.createShaderModule({
  code: `
    @group(0) @binding(0) var<storage, read_write> values: array<f32>;
    override ITERATIONS: u32 = 1000u;
    @compute @workgroup_size(256) fn busy(@builtin(global_invocation_id) g: vec3u) {
      var x = values[g.x];
      var y = x + 1.0;
      for (var i = 0u; i < ITERATIONS; i++) {
        x = fma(x, 0.999, y);
        y = fma(y, 0.999, x);
      }
      values[g.x] = x + y;
    }`,
});
const WORKGROUPS = 1024;
const usage = GPUBufferUsage;
const values_ = device.createBuffer({ size: 4 * 256 * WORKGROUPS, usage: usage.STORAGE | usage.COPY_SRC });
const mapped = device.createBuffer({ size: 256, usage: usage.MAP_READ | usage.COPY_DST });
const queries = device.createQuerySet({ type: "timestamp", count: 2 });
const resolved = device.createBuffer({ size: 256, usage: usage.QUERY_RESOLVE | usage.COPY_SRC });
const stamps = device.createBuffer({ size: 256, usage: usage.MAP_READ | usage.COPY_DST });

console.log(`${description}: submit, then mapAsync of 256 bytes the work wrote; ms per round trip\n`);
console.log("| iterations | GPU ms | wall ms (submit → mapped) | wait beyond the GPU |");
console.log("| ---: | ---: | ---: | ---: |");
for (const iterations of values.iterations!.split(",").map(Number)) {
  const pipeline = device.createComputePipeline({
    layout: "auto",
    compute: { module, entryPoint: "busy", constants: { ITERATIONS: iterations } },
  });
  const bindGroup = device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: [{ binding: 0, resource: { buffer: values_ } }],
  });
  const gpu: number[] = [], wall: number[] = [];
  for (let rep = 0; rep < Number(values.reps); rep++) {
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass({
      timestampWrites: { querySet: queries, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 },
    });
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    for (let d = 0; d < 4; d++) pass.dispatchWorkgroups(WORKGROUPS);
    pass.end();
    encoder.resolveQuerySet(queries, 0, 2, resolved, 0);
    encoder.copyBufferToBuffer(resolved, 0, stamps, 0, 16);
    encoder.copyBufferToBuffer(values_, 0, mapped, 0, 256);
    const t0 = performance.now();
    device.queue.submit([encoder.finish()]);
    await mapped.mapAsync(GPUMapMode.READ);
    wall.push(performance.now() - t0);
    mapped.unmap();
    await stamps.mapAsync(GPUMapMode.READ);
    const [begin, end] = new BigInt64Array(stamps.getMappedRange(0, 16).slice(0));
    gpu.push(Number(end - begin) / 1e6);
    stamps.unmap();
  }
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const [g, w] = [median(gpu), median(wall)];
  console.log(`| ${iterations} | ${g.toFixed(2)} | ${w.toFixed(1)} | ${(w - g).toFixed(1)} |`);
}
