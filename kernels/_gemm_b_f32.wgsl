// _gemm_b_f32: B of the matmul kernels (see _gemm_bindings.wgsl) as float32.

@group(0) @binding(2) var<storage, read> b: array<f32>;

fn b_at(i: u32) -> f32 {
  return b[i];
}
