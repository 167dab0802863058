// _gemm_epilogue: how kernels/matmul.wgsl writes a thread's 8×8 block of the output tile (see its header for the
// block's rows and columns, the Acc accumulators, EXACT, the causal masks and the row_exp and softmax_grad modes),
// appended to the tiled kernel's source in gpu/_gemm.ts (WGSL declarations may come in any order).

// Stores one element if it is inside the output (and, for causal 1, on or below the diagonal). No storage loads
// here: with 64 predicated bias loads in this epilogue llvmpipe took 3 minutes to compile (bias is preloaded instead).
fn store1(m: u32, n: u32, value: f32) {
  if ((EXACT || ((m < p.M) & (n < p.N))) & ((p.causal != 1u) | (n <= m))) {
    c[c_off + m * p.c_sm + n] = value;
  }
}

// Writes one row of the thread's 8×8 block: its four columns from n (COLUMN_STEP apart) from lo, and the four from
// n + 64 from hi.
fn store_row(m: u32, n: u32, lo: vec4f, hi: vec4f) {
  let d = COLUMN_STEP;
  store1(m, n, lo.x);
  store1(m, n + d, lo.y);
  store1(m, n + 2u * d, lo.z);
  store1(m, n + 3u * d, lo.w);
  if (TN == 128u) {
    store1(m, n + 64u, hi.x);
    store1(m, n + 64u + d, hi.y);
    store1(m, n + 64u + 2u * d, hi.z);
    store1(m, n + 64u + 3u * d, hi.w);
  }
}

// The plain epilogue: alpha · acc (+ bias) for every element of the thread's block.
fn store_plain(acc: ptr<function, Acc>, m: u32, n: u32) {
  let alpha = vec4f(p.alpha);
  var bias_lo = vec4f(0.0);
  var bias_hi = vec4f(0.0);
  if (p.has_bias != 0u) {
    // Out-of-range columns read clamped values (WGSL bounds every access) that store1 then discards.
    let i = p.bias_base + n;
    let d = COLUMN_STEP;
    bias_lo = vec4f(bias[i], bias[i + d], bias[i + 2u * d], bias[i + 3u * d]);
    if (TN == 128u) {
      bias_hi = vec4f(bias[i + 64u], bias[i + 64u + d], bias[i + 64u + 2u * d], bias[i + 64u + 3u * d]);
    }
  }
  store_row(m, n, fma((*acc).r0a, alpha, bias_lo), fma((*acc).r0b, alpha, bias_hi));
  store_row(row_of(m, 1u), n, fma((*acc).r1a, alpha, bias_lo), fma((*acc).r1b, alpha, bias_hi));
  store_row(row_of(m, 2u), n, fma((*acc).r2a, alpha, bias_lo), fma((*acc).r2b, alpha, bias_hi));
  store_row(row_of(m, 3u), n, fma((*acc).r3a, alpha, bias_lo), fma((*acc).r3b, alpha, bias_hi));
  store_row(row_of(m, 4u), n, fma((*acc).r4a, alpha, bias_lo), fma((*acc).r4b, alpha, bias_hi));
  store_row(row_of(m, 5u), n, fma((*acc).r5a, alpha, bias_lo), fma((*acc).r5b, alpha, bias_hi));
  store_row(row_of(m, 6u), n, fma((*acc).r6a, alpha, bias_lo), fma((*acc).r6b, alpha, bias_hi));
  store_row(row_of(m, 7u), n, fma((*acc).r7a, alpha, bias_lo), fma((*acc).r7b, alpha, bias_hi));
}

// v[m'] of the row_exp epilogue, for row m' of the output (clamped into the rows: the loads are unconditional, and
// store1 drops the rows past M).
fn row_value(v_off: u32, row: u32) -> f32 {
  return bias[v_off + min(row, p.M - 1u)];
}

// The row_exp epilogue: each row of the thread's block is exp(alpha · acc - v[row]).
fn store_row_exp(acc: ptr<function, Acc>, m: u32, n: u32, v_off: u32) {
  let a = vec4f(p.alpha);
  var v = vec4f(row_value(v_off, m));
  store_row(m, n, exp(fma((*acc).r0a, a, -v)), exp(fma((*acc).r0b, a, -v)));
  v = vec4f(row_value(v_off, row_of(m, 1u)));
  store_row(row_of(m, 1u), n, exp(fma((*acc).r1a, a, -v)), exp(fma((*acc).r1b, a, -v)));
  v = vec4f(row_value(v_off, row_of(m, 2u)));
  store_row(row_of(m, 2u), n, exp(fma((*acc).r2a, a, -v)), exp(fma((*acc).r2b, a, -v)));
  v = vec4f(row_value(v_off, row_of(m, 3u)));
  store_row(row_of(m, 3u), n, exp(fma((*acc).r3a, a, -v)), exp(fma((*acc).r3b, a, -v)));
  v = vec4f(row_value(v_off, row_of(m, 4u)));
  store_row(row_of(m, 4u), n, exp(fma((*acc).r4a, a, -v)), exp(fma((*acc).r4b, a, -v)));
  v = vec4f(row_value(v_off, row_of(m, 5u)));
  store_row(row_of(m, 5u), n, exp(fma((*acc).r5a, a, -v)), exp(fma((*acc).r5b, a, -v)));
  v = vec4f(row_value(v_off, row_of(m, 6u)));
  store_row(row_of(m, 6u), n, exp(fma((*acc).r6a, a, -v)), exp(fma((*acc).r6b, a, -v)));
  v = vec4f(row_value(v_off, row_of(m, 7u)));
  store_row(row_of(m, 7u), n, exp(fma((*acc).r7a, a, -v)), exp(fma((*acc).r7b, a, -v)));
}

// aux at row `row` and the thread's four columns from n (COLUMN_STEP apart) for the softmax_grad epilogue (indices
// clamped into the output, as for row_value).
fn aux4(aux_off: u32, row: u32, n: u32) -> vec4f {
  let r = aux_off + min(row, p.M - 1u) * p.c_sm;
  let last = p.N - 1u;
  let d = COLUMN_STEP;
  let x = vec4u(n, n + d, n + 2u * d, n + 3u * d);
  return vec4f(aux[r + min(x.x, last)], aux[r + min(x.y, last)], aux[r + min(x.z, last)], aux[r + min(x.w, last)]);
}

// What one row of the softmax_grad epilogue reads: aux at the thread's columns from n (lo) and n + 64 (hi), and v.
struct GradRow {
  lo: vec4f,
  hi: vec4f,
  v: f32,
}

fn grad_row(m: u32, n: u32, v_off: u32, aux_off: u32) -> GradRow {
  var g = GradRow(aux4(aux_off, m, n), vec4f(0.0), row_value(v_off, m));
  if (TN == 128u) {
    g.hi = aux4(aux_off, m, n + 64u);
  }
  return g;
}

// One row of the softmax_grad epilogue: aux · (alpha · acc - v[row]) for the thread's columns from n and n + 64.
fn store_grad_row(m: u32, n: u32, lo: vec4f, hi: vec4f, g: GradRow) {
  let a = vec4f(p.alpha);
  let v = vec4f(g.v);
  store_row(m, n, g.lo * fma(lo, a, -v), g.hi * fma(hi, a, -v));
}

// Every row's aux and v are loaded before the first store. Loads placed between the stores, as before, presumably
// each waited out a round trip to memory, since the driver cannot tell that c and aux do not alias and so keeps
// them in order: 0.68 → 0.66 ms for a d12 layer's dout·vᵀ → dpreatt on the H200 (BENCHMARKS.md, stop 27).
fn store_softmax_grad(acc: ptr<function, Acc>, m: u32, n: u32, v_off: u32, aux_off: u32) {
  let g0 = grad_row(m, n, v_off, aux_off);
  let g1 = grad_row(row_of(m, 1u), n, v_off, aux_off);
  let g2 = grad_row(row_of(m, 2u), n, v_off, aux_off);
  let g3 = grad_row(row_of(m, 3u), n, v_off, aux_off);
  let g4 = grad_row(row_of(m, 4u), n, v_off, aux_off);
  let g5 = grad_row(row_of(m, 5u), n, v_off, aux_off);
  let g6 = grad_row(row_of(m, 6u), n, v_off, aux_off);
  let g7 = grad_row(row_of(m, 7u), n, v_off, aux_off);
  store_grad_row(m, n, (*acc).r0a, (*acc).r0b, g0);
  store_grad_row(row_of(m, 1u), n, (*acc).r1a, (*acc).r1b, g1);
  store_grad_row(row_of(m, 2u), n, (*acc).r2a, (*acc).r2b, g2);
  store_grad_row(row_of(m, 3u), n, (*acc).r3a, (*acc).r3b, g3);
  store_grad_row(row_of(m, 4u), n, (*acc).r4a, (*acc).r4b, g4);
  store_grad_row(row_of(m, 5u), n, (*acc).r5a, (*acc).r5b, g5);
  store_grad_row(row_of(m, 6u), n, (*acc).r6a, (*acc).r6b, g6);
  store_grad_row(row_of(m, 7u), n, (*acc).r7a, (*acc).r7b, g7);
}
