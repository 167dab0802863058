// _gemm_row_lse: the row-LSE form of kernels/matmul.wgsl, appended by gpu/_gemm.ts for a product with `rowLse`
// (attention's q·kᵀ; the other forms append _gemm_row_lse_off.wgsl's empty store_row_lse). After the plain stores,
// each row m of the output tile gets the pair (max, Σ exp(x − max)) over its columns in this tile, x = alpha · acc as
// stored, columns past N (and, for causal 1, past m) left out: written to aux (writable in this form) as
// aux[2i], aux[2i + 1] with i = (z · M + m) · tiles + the tile's column index, tiles = ceil(N / TN). A row's
// log-sum-exp is then combined from its tiles' pairs (kernels/attention_lse_combine.wgsl), so attention's forward
// needs no softmax pass over the stored scores.
//
// The 16 threads holding one row's columns combine their pairs through workgroup memory, one half of the tile's rows
// at a time: each thread writes its four rows of the half at [r · 256 + l], then 64 threads each combine one row's 16.

var<workgroup> row_pairs: array<vec2f, 1024>;

// The max of a row without a column (then its sum is 0): exp(NO_COLUMN − any real max) is 0.
const NO_COLUMN: f32 = -3.0e38;

// (max, Σ exp(x − max)) of one of the thread's rows m: its four columns from n (COLUMN_STEP apart) in lo, and those
// from n + 64 in hi (TN = 128).
fn row_pair(m: u32, n: u32, lo: vec4f, hi: vec4f) -> vec2f {
  let d = COLUMN_STEP;
  var end = p.N;
  if (p.causal == 1u) {
    end = min(end, m + 1u);
  }
  let columns = vec4u(n, n + d, n + 2u * d, n + 3u * d);
  let in_lo = columns < vec4u(end);
  let in_hi = (columns + 64u < vec4u(end)) & vec4<bool>(TN == 128u);
  let a = vec4f(p.alpha);
  let x_lo = select(vec4f(NO_COLUMN), lo * a, in_lo);
  let x_hi = select(vec4f(NO_COLUMN), hi * a, in_hi);
  let m4 = max(x_lo, x_hi);
  let mx = max(max(m4.x, m4.y), max(m4.z, m4.w));
  let s = select(vec4f(0.0), exp(x_lo - mx), in_lo) + select(vec4f(0.0), exp(x_hi - mx), in_hi);
  return vec2f(mx, (s.x + s.y) + (s.z + s.w));
}

// Two pairs (max, sum) as one.
fn combine_pairs(u: vec2f, v: vec2f) -> vec2f {
  let mx = max(u.x, v.x);
  return vec2f(mx, u.y * exp(u.x - mx) + v.y * exp(v.x - mx));
}

// Combines and writes the pairs of the rows in half h of the tile (see the header).
fn write_half_pairs(h: u32, l: u32, z: u32) {
  workgroupBarrier();
  if (l < 64u) {
    let r = l / 16u; // the row's index among each thread's four rows of this half
    let ty = l % 16u;
    var pair = row_pairs[r * 256u + ty * 16u];
    for (var tx = 1u; tx < 16u; tx++) {
      pair = combine_pairs(pair, row_pairs[r * 256u + ty * 16u + tx]);
    }
    let row = m0 + h * 64u + ty * THREAD_ROWS + r * ROW_STEP;
    if (row < p.M) {
      let i = p.aux_base + 2u * ((z * p.M + row) * ((p.N + TN - 1u) / TN) + n0 / TN);
      aux[i] = pair.x;
      aux[i + 1u] = pair.y;
    }
  }
  workgroupBarrier(); // read before the next half overwrites them
}

fn store_row_lse(acc: ptr<function, Acc>, m: u32, n: u32, l: u32, z: u32) {
  row_pairs[l] = row_pair(m, n, (*acc).r0a, (*acc).r0b);
  row_pairs[256u + l] = row_pair(row_of(m, 1u), n, (*acc).r1a, (*acc).r1b);
  row_pairs[512u + l] = row_pair(row_of(m, 2u), n, (*acc).r2a, (*acc).r2b);
  row_pairs[768u + l] = row_pair(row_of(m, 3u), n, (*acc).r3a, (*acc).r3b);
  write_half_pairs(0u, l, z);
  row_pairs[l] = row_pair(row_of(m, 4u), n, (*acc).r4a, (*acc).r4b);
  row_pairs[256u + l] = row_pair(row_of(m, 5u), n, (*acc).r5a, (*acc).r5b);
  row_pairs[512u + l] = row_pair(row_of(m, 6u), n, (*acc).r6a, (*acc).r6b);
  row_pairs[768u + l] = row_pair(row_of(m, 7u), n, (*acc).r7a, (*acc).r7b);
  write_half_pairs(1u, l, z);
}
