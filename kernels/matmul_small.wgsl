// matmul_small: the same product, operands, batching and masks as matmul.wgsl (see there; this file shares its
// Params and bindings, row_exp and softmax_grad included; m_fastest is unused), computed one output element per thread
// with a plain loop over K. Used only for outputs smaller than one 128×128 tile or with a side of at most 16, where
// a tiled workgroup would spend almost all its work on padding (e.g. the (B·T)×C input gradient of the classifier
// in tiny test models, whose K is the whole vocabulary).
//
// Threads: workgroups of WX×WY threads; thread (x, y) of workgroup (gx, gy, z) computes c[z][gy·WY + y, gx·WX + x].
// Dispatch: (ceil(N / WX), ceil(M / WY), batches · K slices).
// Params and bindings: kernels/_gemm_bindings.wgsl and _gemm_b_f32.wgsl (or _f16), appended in gpu/_gemm.ts.

override WX: u32 = 16;
override WY: u32 = 16;
// A read as exp(A − v[row]) (attention's probabilities from its scores; see matmul.wgsl).
override A_EXP: bool = false;

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
  let v_at = p.bias_base + zo * p.vec_so + zi * p.vec_si + m;
  var shift = 0.0;
  if (A_EXP) {
    shift = bias[v_at];
  }
  var sum = 0.0;
  for (var k = k_begin; k < k_end; k++) {
    var x = a_at(a_off + k * p.a_sk);
    if (A_EXP) {
      x = exp(x - shift);
    }
    sum = fma(x, b_at(b_off + k * p.b_sk), sum);
  }
  var v = p.alpha * sum;
  let c_at = zo * p.c_so + zi * p.c_si + m * p.c_sm + n;
  if (p.row_exp != 0u) {
    v = exp(v - bias[v_at]);
  } else if (p.softmax_grad != 0u) {
    v = aux[p.aux_base + c_at] * (v - bias[v_at]);
  } else if (p.has_bias != 0u) {
    v += bias[p.bias_base + n];
  }
  c[p.c_base + c_at] = v;
}
