// _gemm_bindings: the Params struct and the bindings shared by matmul.wgsl, matmul_small.wgsl and matmul_rows.wgsl
// (see matmul.wgsl for what each field means), all but B's. Appended to their sources in gpu/_gemm.ts, followed by
// one of _gemm_b_f32.wgsl (B as float32) or _gemm_b_f16.wgsl (B as packed halves: an f16 weight); WGSL declarations
// may come in any order. The kernels read the operands through a_at / b_at only.

struct Params {
  a_base: u32,
  b_base: u32,
  c_base: u32,
  bias_base: u32,
  aux_base: u32,
  a4_base: u32,
  b4_base: u32,
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
  row_exp: u32,
  softmax_grad: u32,
  vec_so: u32,
  vec_si: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;
@group(0) @binding(5) var<storage, read> aux: array<f32>;
// A and B again, bound to the same ranges as a and b and read as vec4 (matmul.wgsl's VEC4_A and VEC4_B; their bases
// are a's and b's, in floats, and the kernels index them from a_base and b_base). b4 is read only where B is float32.
@group(0) @binding(6) var<storage, read> a4: array<vec4f>;
@group(0) @binding(7) var<storage, read> b4: array<vec4f>;

fn a_at(i: u32) -> f32 {
  return a[i];
}
