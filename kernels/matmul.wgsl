// matmul: a batched, strided SGEMM used by every dense product of the model (matmul forward/backward and the four
// products inside attention). For batch z and 0 ≤ m < M, 0 ≤ n < N:
//   c[z][m,n] = alpha · Σ_{k in [k_begin, k_end)} A[z][m,k] · B[z][k,n]  (+ bias[n] if has_bias)
// with A[z][m,k] = a[a_base + za + m·a_sm + k·a_sk], B[z][k,n] = b[b_base + zb + k·b_sk + n·b_sn] and
// c[z][m,n] = c[c_base + zc + m·c_sm + n]. The batch index splits as z = zo·z_inner + zi, and each operand's batch
// offset is zo·so + zi·si (attention: zo = batch, zi = head). Split-K uses zo as the K slice:
// k_begin = zo·k_zstride, k_end = min(K, k_begin + k_chunk); k_zstride = 0 and k_chunk = K otherwise.
// The output is written, never read: accumulation (dweight +=) goes through scratch and sum_partials.
//
// causal (attention's lower-triangular T×T matrices): 0 none; 1 only c[m,n] with n ≤ m is computed and written
// (tiles wholly above the diagonal exit at once); 2 A[m,k] is taken as 0 for k > m (att·V, dpreatt·K); 3 A[m,k]
// is taken as 0 for k < m (attᵀ·dout, dpreattᵀ·Q). Entries of A on the masked side are never read.
// Layout, bias and causal mode are uniforms rather than overrides, so one pipeline per BK serves every product
// (fewer shader compiles; the branches they add are uniform and outside the multiply loop).
//
// Threads: 256 per workgroup, each computing an 8×8 block of a 128×128 output tile held in 16 NAMED vec4f
// accumulators (a dynamically indexed private array is ~30x slower on NVIDIA). Thread (tx, ty) = (l % 16, l / 16)
// owns rows {4ty … 4ty+3, 64+4ty … 64+4ty+3} and columns {4tx … 4tx+3, 64+4tx … 64+4tx+3} of the tile, so its
// shared-memory reads are two vec4 of A and two of B per k. Tiles of BK (16, an override) along K are staged in
// workgroup memory (k-major, padded to 33 vec4 per k against bank conflicts); the next tile is prefetched into
// registers while the current one is multiplied. a_m_contig / b_n_contig say which index has stride 1 in memory,
// and the 256 loading threads walk that index consecutively so global loads coalesce for either layout. Every
// load and store is bounds checked, so M, N and K need not be multiples of anything.
// Dispatch: (ceil(N / 128), ceil(M / 128), batches · K slices), or (ceil(M / 128), ceil(N / 128), …) with
// m_fastest, which makes consecutive workgroups share a B tile instead of an A tile: the launcher sets it when B is
// the larger operand (the classifier's wte), so B streams from memory once while A stays in L2. The tile size is
// fixed by the accumulators.
// Params and bindings: kernels/_gemm_bindings.wgsl, appended to this source by gpu/kernels.ts.

// K-tile depth: 16 on GPUs; 8 on CPU adapters (llvmpipe), whose shader compile time grows with the square of the
// workgroup memory (16.9 KB at BK = 16 takes ~15 s to compile there, 8.4 KB ~4 s). Must be 8 or 16.
override BK: u32 = 16u;

const TILE: u32 = 128u;
const ROW: u32 = 33u; // vec4 per k row of a staged tile: 128 / 4 + 1 padding against bank conflicts

var<workgroup> As: array<vec4f, BK * ROW>;
var<workgroup> Bs: array<vec4f, BK * ROW>;

// Two vec4 of a tile row, as loaded by one thread (named fields, not an indexed array).
struct Pair {
  lo: vec4f,
  hi: vec4f,
}

// Per-workgroup constants, set once at the top of `matmul` (loop bounds are kept in locals there, so barriers stay
// in uniform control flow).
var<private> a_off: u32;
var<private> b_off: u32;
var<private> c_off: u32;
var<private> m0: u32;
var<private> n0: u32;
var<private> k_end: u32;

fn load_a(m: u32, k: u32) -> f32 {
  var ok = m < p.M && k < k_end;
  if (p.causal == 2u) {
    ok = ok && k <= m;
  }
  if (p.causal == 3u) {
    ok = ok && k >= m;
  }
  if (ok) {
    return a[a_off + m * p.a_sm + k * p.a_sk];
  }
  return 0.0;
}

fn load_b(k: u32, n: u32) -> f32 {
  if (n < p.N && k < k_end) {
    return b[b_off + k * p.b_sk + n * p.b_sn];
  }
  return 0.0;
}

// Loads the thread's share of the A tile starting at k0: BK / 2 values, as one (BK = 8) or two (BK = 16) vec4.
// k contiguous: thread l loads rows g·BK/2 … g·BK/2 + BK/2 - 1 at k0 + l % BK, g = l / BK.
// m contiguous: thread l loads rows 4·(l % 32) … +3 at k0 + l / 32 (and k0 + l / 32 + 8 when BK = 16).
fn fetch_a(l: u32, k0: u32) -> Pair {
  var v = Pair(vec4f(0.0), vec4f(0.0));
  if (p.a_m_contig != 0u) {
    let m = m0 + (l % 32u) * 4u;
    let k = k0 + l / 32u;
    v.lo = vec4f(load_a(m, k), load_a(m + 1u, k), load_a(m + 2u, k), load_a(m + 3u, k));
    if (BK == 16u) {
      v.hi = vec4f(load_a(m, k + 8u), load_a(m + 1u, k + 8u), load_a(m + 2u, k + 8u), load_a(m + 3u, k + 8u));
    }
  } else {
    let m = m0 + (l / BK) * (BK / 2u);
    let k = k0 + l % BK;
    v.lo = vec4f(load_a(m, k), load_a(m + 1u, k), load_a(m + 2u, k), load_a(m + 3u, k));
    if (BK == 16u) {
      v.hi = vec4f(load_a(m + 4u, k), load_a(m + 5u, k), load_a(m + 6u, k), load_a(m + 7u, k));
    }
  }
  return v;
}

fn stage_a(l: u32, v: Pair) {
  if (p.a_m_contig != 0u) {
    let k = l / 32u;
    As[k * ROW + l % 32u] = v.lo;
    if (BK == 16u) {
      As[(k + 8u) * ROW + l % 32u] = v.hi;
    }
  } else {
    let at = (l % BK) * ROW + (l / BK) * (BK / 8u);
    As[at] = v.lo;
    if (BK == 16u) {
      As[at + 1u] = v.hi;
    }
  }
}

// The B tile, loaded like A with n in place of m.
fn fetch_b(l: u32, k0: u32) -> Pair {
  var v = Pair(vec4f(0.0), vec4f(0.0));
  if (p.b_n_contig != 0u) {
    let n = n0 + (l % 32u) * 4u;
    let k = k0 + l / 32u;
    v.lo = vec4f(load_b(k, n), load_b(k, n + 1u), load_b(k, n + 2u), load_b(k, n + 3u));
    if (BK == 16u) {
      v.hi = vec4f(load_b(k + 8u, n), load_b(k + 8u, n + 1u), load_b(k + 8u, n + 2u), load_b(k + 8u, n + 3u));
    }
  } else {
    let n = n0 + (l / BK) * (BK / 2u);
    let k = k0 + l % BK;
    v.lo = vec4f(load_b(k, n), load_b(k, n + 1u), load_b(k, n + 2u), load_b(k, n + 3u));
    if (BK == 16u) {
      v.hi = vec4f(load_b(k, n + 4u), load_b(k, n + 5u), load_b(k, n + 6u), load_b(k, n + 7u));
    }
  }
  return v;
}

fn stage_b(l: u32, v: Pair) {
  if (p.b_n_contig != 0u) {
    let k = l / 32u;
    Bs[k * ROW + l % 32u] = v.lo;
    if (BK == 16u) {
      Bs[(k + 8u) * ROW + l % 32u] = v.hi;
    }
  } else {
    let at = (l % BK) * ROW + (l / BK) * (BK / 8u);
    Bs[at] = v.lo;
    if (BK == 16u) {
      Bs[at + 1u] = v.hi;
    }
  }
}

// Stores one element if it is inside the output (and, for causal 1, on or below the diagonal). No storage loads
// here: with 64 predicated bias loads in this epilogue llvmpipe took 3 minutes to compile (bias is preloaded instead).
fn store1(m: u32, n: u32, value: f32) {
  if ((m < p.M) & (n < p.N) & ((p.causal != 1u) | (n <= m))) {
    c[c_off + m * p.c_sm + n] = value;
  }
}

// Writes one row of the thread's 8×8 block: columns n, …, n+3 from lo and n+64, …, n+67 from hi.
fn store_row(m: u32, n: u32, lo: vec4f, hi: vec4f) {
  store1(m, n, lo.x);
  store1(m, n + 1u, lo.y);
  store1(m, n + 2u, lo.z);
  store1(m, n + 3u, lo.w);
  store1(m, n + 64u, hi.x);
  store1(m, n + 65u, hi.y);
  store1(m, n + 66u, hi.z);
  store1(m, n + 67u, hi.w);
}

@compute @workgroup_size(256)
fn matmul(@builtin(local_invocation_index) l: u32, @builtin(workgroup_id) wid: vec3u) {
  var tile_m = wid.y * TILE;
  var tile_n = wid.x * TILE;
  if (p.m_fastest != 0u) {
    tile_m = wid.x * TILE;
    tile_n = wid.y * TILE;
  }
  if (p.causal == 1u && tile_n > tile_m + TILE - 1u) {
    return; // the whole tile is above the diagonal
  }
  m0 = tile_m;
  n0 = tile_n;
  let zo = wid.z / p.z_inner;
  let zi = wid.z % p.z_inner;
  a_off = p.a_base + zo * p.a_so + zi * p.a_si;
  b_off = p.b_base + zo * p.b_so + zi * p.b_si;
  c_off = p.c_base + zo * p.c_so + zi * p.c_si;
  var k_begin = zo * p.k_zstride;
  var k_stop = min(p.K, k_begin + p.k_chunk);
  if (p.causal == 2u) {
    k_stop = min(k_stop, tile_m + TILE);
  }
  if (p.causal == 3u) {
    k_begin = max(k_begin, tile_m);
  }
  k_end = k_stop;

  let tx = l % 16u;
  let ty = l / 16u;
  var acc0a = vec4f(0.0);
  var acc0b = vec4f(0.0);
  var acc1a = vec4f(0.0);
  var acc1b = vec4f(0.0);
  var acc2a = vec4f(0.0);
  var acc2b = vec4f(0.0);
  var acc3a = vec4f(0.0);
  var acc3b = vec4f(0.0);
  var acc4a = vec4f(0.0);
  var acc4b = vec4f(0.0);
  var acc5a = vec4f(0.0);
  var acc5b = vec4f(0.0);
  var acc6a = vec4f(0.0);
  var acc6b = vec4f(0.0);
  var acc7a = vec4f(0.0);
  var acc7b = vec4f(0.0);

  var next_a = fetch_a(l, k_begin);
  var next_b = fetch_b(l, k_begin);
  for (var k0 = k_begin; k0 < k_stop; k0 += BK) {
    workgroupBarrier(); // everyone is done reading the previous tile
    stage_a(l, next_a);
    stage_b(l, next_b);
    workgroupBarrier();
    if (k0 + BK < k_stop) {
      next_a = fetch_a(l, k0 + BK); // in flight while this tile is multiplied
      next_b = fetch_b(l, k0 + BK);
    }
    for (var kk = 0u; kk < BK; kk++) {
      let a_lo = As[kk * ROW + ty];
      let a_hi = As[kk * ROW + 16u + ty];
      let b_lo = Bs[kk * ROW + tx];
      let b_hi = Bs[kk * ROW + 16u + tx];
      acc0a = fma(vec4f(a_lo.x), b_lo, acc0a);
      acc0b = fma(vec4f(a_lo.x), b_hi, acc0b);
      acc1a = fma(vec4f(a_lo.y), b_lo, acc1a);
      acc1b = fma(vec4f(a_lo.y), b_hi, acc1b);
      acc2a = fma(vec4f(a_lo.z), b_lo, acc2a);
      acc2b = fma(vec4f(a_lo.z), b_hi, acc2b);
      acc3a = fma(vec4f(a_lo.w), b_lo, acc3a);
      acc3b = fma(vec4f(a_lo.w), b_hi, acc3b);
      acc4a = fma(vec4f(a_hi.x), b_lo, acc4a);
      acc4b = fma(vec4f(a_hi.x), b_hi, acc4b);
      acc5a = fma(vec4f(a_hi.y), b_lo, acc5a);
      acc5b = fma(vec4f(a_hi.y), b_hi, acc5b);
      acc6a = fma(vec4f(a_hi.z), b_lo, acc6a);
      acc6b = fma(vec4f(a_hi.z), b_hi, acc6b);
      acc7a = fma(vec4f(a_hi.w), b_lo, acc7a);
      acc7b = fma(vec4f(a_hi.w), b_hi, acc7b);
    }
  }

  let m = tile_m + ty * 4u;
  let n = tile_n + tx * 4u;
  var bias_lo = vec4f(0.0);
  var bias_hi = vec4f(0.0);
  if (p.has_bias != 0u) {
    // Out-of-range columns read clamped values (WGSL bounds every access) that store1 then discards.
    let i = p.bias_base + n;
    bias_lo = vec4f(bias[i], bias[i + 1u], bias[i + 2u], bias[i + 3u]);
    bias_hi = vec4f(bias[i + 64u], bias[i + 65u], bias[i + 66u], bias[i + 67u]);
  }
  let alpha = p.alpha;
  store_row(m, n, fma(acc0a, vec4f(alpha), bias_lo), fma(acc0b, vec4f(alpha), bias_hi));
  store_row(m + 1u, n, fma(acc1a, vec4f(alpha), bias_lo), fma(acc1b, vec4f(alpha), bias_hi));
  store_row(m + 2u, n, fma(acc2a, vec4f(alpha), bias_lo), fma(acc2b, vec4f(alpha), bias_hi));
  store_row(m + 3u, n, fma(acc3a, vec4f(alpha), bias_lo), fma(acc3b, vec4f(alpha), bias_hi));
  store_row(m + 64u, n, fma(acc4a, vec4f(alpha), bias_lo), fma(acc4b, vec4f(alpha), bias_hi));
  store_row(m + 65u, n, fma(acc5a, vec4f(alpha), bias_lo), fma(acc5b, vec4f(alpha), bias_hi));
  store_row(m + 66u, n, fma(acc6a, vec4f(alpha), bias_lo), fma(acc6b, vec4f(alpha), bias_hi));
  store_row(m + 67u, n, fma(acc7a, vec4f(alpha), bias_lo), fma(acc7b, vec4f(alpha), bias_hi));
}
