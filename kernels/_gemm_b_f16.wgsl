// _gemm_b_f16: B of the matmul kernels (see _gemm_bindings.wgsl) as IEEE halves packed two to a u32 (an f16 weight
// copy, `GpuDType` "f16": half i in bits 16·(i mod 2) … of word ⌊i / 2⌋, and b_base counts halves), unpacked to f32
// as it is read; the products still accumulate in f32. Core WGSL (`unpack2x16float`): no shader-f16 needed.

@group(0) @binding(2) var<storage, read> b: array<u32>;

fn b_at(i: u32) -> f32 {
  return unpack2x16float(b[i >> 1u])[i & 1u];
}
