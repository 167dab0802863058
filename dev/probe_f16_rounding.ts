/**
 * How this GPU rounds to halves: WGSL (like Vulkan) leaves the rounding of a float32 → f16 conversion to the
 * implementation (either neighbour), and NVIDIA's Vulkan driver has been seen rounding toward zero where no rounding
 * mode is requested (llama.cpp issue 10764). A bias toward zero in every half matters to f16 training, so this
 * probes, on inputs whose nearest half and whose half toward zero differ:
 * - `pack2x16float` (core WGSL; what the f16 weight copies used before kernels/_half_bits.wgsl);
 * - with `shader-f16`: the conversion `f16(x)`, and f16 addition, multiplication and `fma` (the arithmetic of
 *   kernels/_gemm_math_f16.wgsl).
 * Each row says "nearest even" when every result is the half nearest (ties to even, as util/f16.ts rounds), "toward
 * zero" when every one is the truncated half, and the counts otherwise.
 *
 *     deno run -A dev/probe_f16_rounding.ts
 *
 * @module
 */
import { getGpuDevice } from "../gpu/device.ts";
import { halfBits, halfValue, roundToHalf } from "../util/f16.ts";

const { device, hasF16, description } = await getGpuDevice();

/** Inputs: values strictly between two halves, above and below the midpoint, positive and negative, and ties. */
const inputs: number[] = [];
for (let i = 0; i < 256; i++) {
  const base = 1 + (i % 1024) / 1024; // a half in [1, 2)
  // 2^-2 … 2^4: a·2^-12 below stays a normal half (≥ 2^-14), so b is exact; a·c stays far below 65504.
  const scale = 2 ** ((i % 7) - 2) * (i % 2 ? -1 : 1);
  const fraction = [0.25, 0.5, 0.75, 0.125, 0.875][i % 5]; // of an ulp (2^-10 in [1, 2)) above the half
  inputs.push(Math.fround(scale * (base + fraction * 2 ** -10)));
}
const xs = Float32Array.from(inputs);

/** The half toward zero from x (its truncation). */
function truncated(x: number): number {
  const h = halfValue(halfBits(x));
  return Math.abs(h) > Math.abs(x) ? halfValue(halfBits(x) - 1) : h;
}

/**
 * Runs `body` (WGSL statements computing `r` from `x: f32`, and with `f16`, `h: f16`, the input half of x from the
 * CPU, nearest even) over xs and returns the halves it wrote, as numbers. Results leave through memory as 16-bit
 * halves (`pack2x16float`'s bits, or an `array<f16>`), so the GPU must round: a round trip kept in registers, such as
 * `f32(f16(x))`, may be folded away by the driver's compiler (seen on the H200, stop 23: x came back unchanged).
 */
async function probe(body: string, f16: boolean): Promise<Float64Array> {
  const code = `${f16 ? "enable f16;\n" : ""}
@group(0) @binding(0) var<storage, read> inp: array<f32>;
@group(0) @binding(1) var<storage, read> halves: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<${f16 ? "f16" : "u32"}>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) {
  let i = g.x;
  if (i >= arrayLength(&inp)) { return; }
  let x = inp[i];
  ${f16 ? "let h = f16(unpack2x16float(halves[i]).x); // exact: a half already" : ""}
  ${body}
  out[i] = r;
}`;
  const module = device.createShaderModule({ code });
  const pipeline = device.createComputePipeline({ layout: "auto", compute: { module, entryPoint: "main" } });
  const words = xs.length * (f16 ? 2 : 4);
  const inp = device.createBuffer({ size: xs.byteLength, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
  const halves = device.createBuffer({ size: xs.byteLength, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
  const out = device.createBuffer({ size: words, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
  const read = device.createBuffer({ size: words, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  device.queue.writeBuffer(inp, 0, xs);
  device.queue.writeBuffer(halves, 0, Uint32Array.from(xs, (x) => halfBits(x)));
  const entries = [inp, halves, out].map((buffer, binding) => ({ binding, resource: { buffer } }));
  const used = entries.filter((e) => code.includes(`@binding(${e.binding})`) && (e.binding !== 1 || f16));
  const bind = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: used });
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bind);
  pass.dispatchWorkgroups(Math.ceil(xs.length / 64));
  pass.end();
  enc.copyBufferToBuffer(out, 0, read, 0, words);
  device.queue.submit([enc.finish()]);
  await read.mapAsync(GPUMapMode.READ);
  const raw = read.getMappedRange().slice(0);
  read.unmap();
  for (const b of [inp, halves, out, read]) b.destroy();
  const bits = f16 ? Array.from(new Uint16Array(raw)) : Array.from(new Uint32Array(raw), (w) => w & 0xffff);
  return Float64Array.from(bits, halfValue);
}

/** Classifies results against the two candidate halves of each exact value (`exact(i)` for input i). */
function verdict(got: Float64Array, exact: (i: number) => number): string {
  let nearest = 0, towardZero = 0, other = 0;
  got.forEach((g, i) => {
    const e = exact(i);
    const n = halfValue(halfBits(e)), z = truncated(e);
    if (g === n) nearest++;
    if (g === z) towardZero++;
    if (g !== n && g !== z) other++;
  });
  if (nearest === got.length) return "nearest even";
  if (towardZero === got.length) return "toward zero";
  return `${nearest} nearest, ${towardZero} toward zero, ${other} neither (of ${got.length})`;
}

console.log(`${description}: how float32 values are rounded to halves\n`);
console.log("| operation | rounding |");
console.log("| --- | --- |");
const packed = await probe("let r = pack2x16float(vec2f(x, 0.0));", false);
console.log(`| pack2x16float | ${verdict(packed, (i) => xs[i])} |`);
if (!hasF16) {
  console.log("\n(no shader-f16: the f16 conversion and arithmetic are not probed)");
  Deno.exit(0);
}
const converted = await probe("let r = f16(x);", true);
console.log(`| f16(x) | ${verdict(converted, (i) => xs[i])} |`);
// The arithmetic starts from exact halves a = h (the CPU's nearest half of x), with operands whose exact results
// fall between two halves: b = a·2^-12 (a half: a power of two times a; about a quarter of a's ulp), and the half
// c = 1 + 3·2^-10, so a + b, a·c and a·c + b are exact in float64 and not halves.
const c = 1 + 3 * 2 ** -10;
const a = (i: number) => roundToHalf(xs[i]);
const add = await probe(`let r = h + h * f16(${2 ** -12});`, true);
console.log(`| f16 a + b | ${verdict(add, (i) => a(i) + a(i) * 2 ** -12)} |`);
const mul = await probe(`let r = h * f16(${c});`, true);
console.log(`| f16 a · c | ${verdict(mul, (i) => a(i) * c)} |`);
const fused = await probe(`let r = fma(h, f16(${c}), h * f16(${2 ** -12}));`, true);
console.log(`| f16 fma(a, c, b) | ${verdict(fused, (i) => a(i) * c + a(i) * 2 ** -12)} |`);
