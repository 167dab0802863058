// matmul_small: the same product, operands, batching and masks as matmul.wgsl (see there; this file shares its
// Params and bindings; a_m_contig, b_n_contig and m_fastest are unused), computed one output element per thread
// with a plain loop over K. Used only for outputs smaller than one 128×128 tile or with a side of at most 16, where
// a tiled workgroup would spend almost all its work on padding (e.g. the (B·T)×C input gradient of the classifier
// in tiny test models, whose K is the whole vocabulary).
//
// Threads: workgroups of WX×WY threads; thread (x, y) of workgroup (gx, gy, z) computes c[z][gy·WY + y, gx·WX + x].
// Dispatch: (ceil(N / WX), ceil(M / WY), batches · K slices).
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
  a_m_contig: u32,
  b_n_contig: u32,
  has_bias: u32,
  causal: u32,
  m_fastest: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;

override WX: u32 = 16;
override WY: u32 = 16;

@compute @workgroup_size(WX, WY)
fn matmul_small(@builtin(global_invocation_id) gid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let m = gid.y;
  let n = gid.x;
  if (m >= p.M || n >= p.N || (p.causal == 1u && n > m)) {
    return;
  }
  let zo = wid.z / p.z_inner;
  let zi = wid.z % p.z_inner;
  let a_off = p.a_base + zo * p.a_so + zi * p.a_si + m * p.a_sm;
  let b_off = p.b_base + zo * p.b_so + zi * p.b_si + n * p.b_sn;
  var k_begin = zo * p.k_zstride;
  var k_end = min(p.K, k_begin + p.k_chunk);
  if (p.causal == 2u) {
    k_end = min(k_end, m + 1u);
  }
  if (p.causal == 3u) {
    k_begin = max(k_begin, m);
  }
  var sum = 0.0;
  for (var k = k_begin; k < k_end; k++) {
    sum = fma(a[a_off + k * p.a_sk], b[b_off + k * p.b_sk], sum);
  }
  var v = p.alpha * sum;
  if (p.has_bias != 0u) {
    v += bias[p.bias_base + n];
  }
  c[p.c_base + zo * p.c_so + zi * p.c_si + m * p.c_sm + n] = v;
}
