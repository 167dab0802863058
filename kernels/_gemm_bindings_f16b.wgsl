// _gemm_bindings_f16b: _gemm_bindings.wgsl with B stored as IEEE halves packed two to a u32 (an f16 weight copy,
// `GpuDType` "f16": half i in bits 16·(i mod 2) … of word ⌊i / 2⌋, and b_base counts halves), unpacked to f32 as it
// is read; the products still accumulate in f32. Core WGSL (`unpack2x16float`): no shader-f16 needed.

struct Params {
  a_base: u32,
  b_base: u32,
  c_base: u32,
  bias_base: u32,
  M: u32,
  N: u32,
  K: u32,
  a_sm: u32,
  a_sk: u32,
  b_sk: u32,
  b_sn: u32,
  c_sm: u32,
  z_inner: u32,
  a_so: u32,
  a_si: u32,
  b_so: u32,
  b_si: u32,
  c_so: u32,
  c_si: u32,
  k_chunk: u32,
  k_zstride: u32,
  alpha: f32,
  has_bias: u32,
  causal: u32,
  m_fastest: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<u32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;

fn a_at(i: u32) -> f32 {
  return a[i];
}

fn b_at(i: u32) -> f32 {
  return unpack2x16float(b[i >> 1u])[i & 1u];
}
