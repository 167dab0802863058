// matmul_rows: the same product, operands, batching and split-K as matmul.wgsl (see there; this file shares its
// Params and bindings; causal, m_fastest, row_exp and softmax_grad are unused), for products with a few rows whose
// operands are both contiguous along K (a_sk = b_sk = 1): decoding one position, where every matmul is a row vector times a weight
// matrix stored (N, K). One output per 32-lane team: the team's lanes walk K together (lane l reads k = l, l + 32, …),
// four loads at a time, so each load of a weight row is one coalesced 128-byte line instead of 32 lines a thread apiece (matmul_small's
// pattern, ~30x slower here), and the 32 partial sums are added in workgroup memory in a fixed tree order.
//
// Threads: 256 per workgroup, as 8 teams of 32 lanes; team t of workgroup (gx, m, z) computes c[z][m, 8·gx + t].
// Dispatch: (ceil(N / 8), M, batches · K slices).
// Params and bindings: kernels/_gemm_bindings.wgsl and _gemm_b_f32.wgsl (or _f16), appended in gpu/_gemm.ts.

const LANES: u32 = 32u;
const TEAMS: u32 = 8u;

var<workgroup> partial_sums: array<f32, 256>;

@compute @workgroup_size(256)
fn matmul_rows(@builtin(local_invocation_index) l: u32, @builtin(workgroup_id) wid: vec3u) {
  let lane = l % LANES;
  let n = wid.x * TEAMS + l / LANES;
  let m = wid.y;
  let zo = wid.z / p.z_inner;
  let zi = wid.z % p.z_inner;
  let k_begin = zo * p.k_zstride;
  let k_end = min(p.K, k_begin + p.k_chunk);
  var sum = 0.0;
  if (n < p.N) {
    let a_off = p.a_base + zo * p.a_so + zi * p.a_si + m * p.a_sm;
    let b_off = p.b_base + zo * p.b_so + zi * p.b_si + n * p.b_sn;
    // Four independent loads in flight per lane (one chain would wait a memory latency per 32 elements).
    var s0 = 0.0;
    var s1 = 0.0;
    var s2 = 0.0;
    var s3 = 0.0;
    var k = k_begin + lane;
    for (; k + 3u * LANES < k_end; k += 4u * LANES) {
      s0 = fma(a_at(a_off + k), b_at(b_off + k), s0);
      s1 = fma(a_at(a_off + k + LANES), b_at(b_off + k + LANES), s1);
      s2 = fma(a_at(a_off + k + 2u * LANES), b_at(b_off + k + 2u * LANES), s2);
      s3 = fma(a_at(a_off + k + 3u * LANES), b_at(b_off + k + 3u * LANES), s3);
    }
    for (; k < k_end; k += LANES) {
      s0 = fma(a_at(a_off + k), b_at(b_off + k), s0);
    }
    sum = (s0 + s1) + (s2 + s3);
  }
  partial_sums[l] = sum;
  workgroupBarrier();
  for (var half = LANES / 2u; half > 0u; half /= 2u) {
    if (lane < half) {
      partial_sums[l] += partial_sums[l + half];
    }
    workgroupBarrier();
  }
  if (lane == 0u && n < p.N) {
    var v = p.alpha * partial_sums[l];
    if (p.has_bias != 0u) {
      v += bias[p.bias_base + n];
    }
    c[p.c_base + zo * p.c_so + zi * p.c_si + m * p.c_sm + n] = v;
  }
}
