/**
 * The GPU's FMA rate in WGSL, float32 against native f16 (`enable f16;`, the `shader-f16` feature): what the matmul
 * kernels could gain from f16 arithmetic (issue 13). Each thread runs eight (`--chains`) independent chains of `fma`
 * (4,096 each) on `vec4f`, scalar `f32`, `vec4<f16>` or `vec2<f16>` (the shape of one packed HFMA2), over
 * 132 · 2048 · 8 threads, four dispatches per timed pass (GPU timestamps), in rounds of every type (2 by default; the
 * first is warm-up, not printed). On an adapter without `shader-f16` only the float32 rows run. Meant for the H200
 * (on llvmpipe one pass takes ~25 s).
 *
 *     deno run -A dev/bench_fma.ts
 *     deno run -A dev/bench_fma.ts --rounds 10   # more rounds, every one after the first printed (do clocks rise?)
 *     deno run -A dev/bench_fma.ts --chains 8,16,32   # independent chains a thread (is 8 latency-bound?)
 *
 * @module
 */
const adapter = await navigator.gpu.requestAdapter();
if (!adapter) {
  console.error("no WebGPU adapter");
  Deno.exit(1);
}
const hasF16 = adapter.features.has("shader-f16");
if (!adapter.features.has("timestamp-query")) {
  console.error("this adapter has no timestamp-query");
  Deno.exit(1);
}
const features: GPUFeatureName[] = hasF16 ? ["shader-f16", "timestamp-query"] : ["timestamp-query"];
const device = await adapter.requestDevice({ requiredFeatures: features });

/** The kernel for vector type `t` of `lanes` lanes (its scalar `s`), after the `enable` line `en`, `n` chains. */
function source(t: string, s: string, en: string, lanes: number, n: number): string {
  const total = lanes === 1 ? "sum" : ["x", "y", "z", "w"].slice(0, lanes).map((c) => `sum.${c}`).join(" + ");
  const chains = Array.from({ length: n }, (_, i) => `a${i}`);
  return `${en}
@group(0) @binding(0) var<storage, read_write> o: array<f32>;
@compute @workgroup_size(256) fn main(@builtin(global_invocation_id) g: vec3u) {
  let a = ${t}(${s}(f32(g.x) * 1e-7));
  ${chains.map((x, i) => `var ${x} = a + ${t}(${i}e-3);`).join(" ")}
  let b = ${t}(0.999); let c = ${t}(1e-4);
  for (var i = 0u; i < ${CHAIN}u; i++) {
    ${chains.map((x) => `${x} = fma(${x}, b, c);`).join(" ")}
  }
  let sum = ${chains.join(" + ")};
  o[g.x] = f32(${total});
}`;
}
const CHAIN = 4096;
const THREADS = 132 * 2048 * 8;
const DISPATCHES = 4;
const out = device.createBuffer({ size: THREADS * 4, usage: GPUBufferUsage.STORAGE });
const queries = device.createQuerySet({ type: "timestamp", count: 2 });
const resolved = device.createBuffer({ size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
const readback = device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });

/** Name, vector type, scalar type, `enable` line, lanes a vector. */
const kinds: [string, string, string, string, number][] = [
  ["vec4f", "vec4f", "f32", "", 4],
  ["f32", "f32", "f32", "", 1],
];
if (hasF16) {
  kinds.push(["vec4<f16>", "vec4<f16>", "f16", "enable f16;", 4]);
  kinds.push(["vec2<f16>", "vec2<f16>", "f16", "enable f16;", 2]);
}
console.log(`| type | ms per pass | TFLOP/s |`);
console.log(`| --- | ---: | ---: |`);
const roundsIndex = Deno.args.indexOf("--rounds");
const rounds = roundsIndex >= 0 ? Number(Deno.args[roundsIndex + 1]) : 2;
const chainsIndex = Deno.args.indexOf("--chains");
const chainCounts = chainsIndex >= 0 ? Deno.args[chainsIndex + 1].split(",").map(Number) : [8];
for (let round = 0; round < rounds; round++) {
  for (const [kind, t, s, en, lanes] of kinds) {
    for (const chains of chainCounts) {
      const name = chainCounts.length > 1 ? `${kind}, ${chains} chains` : kind;
      const module = device.createShaderModule({ code: source(t, s, en, lanes, chains) });
      const pipeline = device.createComputePipeline({ layout: "auto", compute: { module, entryPoint: "main" } });
      const bindGroup = device.createBindGroup({
        layout: pipeline.getBindGroupLayout(0),
        entries: [{ binding: 0, resource: { buffer: out } }],
      });
      const encoder = device.createCommandEncoder();
      for (const timed of [false, true]) { // an untimed pass first: compiles, raises the clocks
        const pass = encoder.beginComputePass(
          timed ? { timestampWrites: { querySet: queries, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } } : {},
        );
        pass.setPipeline(pipeline);
        pass.setBindGroup(0, bindGroup);
        for (let i = 0; i < DISPATCHES; i++) pass.dispatchWorkgroups(THREADS / 256);
        pass.end();
      }
      encoder.resolveQuerySet(queries, 0, 2, resolved, 0);
      encoder.copyBufferToBuffer(resolved, 0, readback, 0, 16);
      device.queue.submit([encoder.finish()]);
      await readback.mapAsync(GPUMapMode.READ);
      const [t0, t1] = new BigUint64Array(readback.getMappedRange().slice(0));
      readback.unmap();
      const ns = Number(t1 - t0);
      const flop = DISPATCHES * THREADS * CHAIN * chains * lanes * 2; // chains of FMAs on `lanes` lanes, 2 FLOP each
      const label = rounds > 2 ? `${name} (round ${round})` : name;
      if (round > 0) console.log(`| ${label} | ${(ns / 1e6).toFixed(2)} | ${(flop / ns / 1e3).toFixed(1)} |`);
    }
  }
}
