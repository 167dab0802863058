// _gemm_stage: how kernels/matmul.wgsl reads its A and B tiles from memory (bounds, causal masks, A_EXP, the slots
// each thread loads so that loads coalesce) and stages them in workgroup memory, and which rows and columns of the
// output tile a thread owns (SPREAD_ROWS, SPREAD_COLUMNS). Appended to the tiled kernel's source in gpu/_gemm.ts
// (WGSL declarations may come in any order; the overrides it reads are declared in matmul.wgsl).

// Whether A[m,k] is inside A (and this slice) and not under the causal mask.
fn a_in(m: u32, k: u32) -> bool {
  var ok = EXACT || (m < p.M && k < k_end);
  if (p.causal == 2u) {
    ok = ok && k <= m;
  }
  if (p.causal == 3u) {
    ok = ok && k >= m;
  }
  return ok;
}

fn load_a(m: u32, k: u32) -> f32 {
  if (EXACT && p.causal < 2u) {
    return a_at(a_off + m * p.a_sm + k * p.a_sk);
  }
  if (a_in(m, k)) {
    return a_at(a_off + m * p.a_sm + k * p.a_sk);
  }
  return 0.0;
}

// A_EXP: v of the four rows of a staged vec4 from row m, ROW_STEP apart (clamped into the rows, like row_value: the
// rows past M are never stored).
fn shift4(m: u32) -> vec4f {
  let d = ROW_STEP;
  let v = v_base;
  return vec4f(row_value(v, m), row_value(v, m + d), row_value(v, m + 2u * d), row_value(v, m + 3u * d));
}

fn load_b(k: u32, n: u32) -> f32 {
  if (EXACT || (n < p.N && k < k_end)) {
    return b_at(b_off + k * p.b_sk + n * p.b_sn);
  }
  return 0.0;
}

// Slot s of a staged tile is one vec4: four consecutive rows (A: m, B: n) at one k, at (row group, k) of the tile.
// When the rows are the stride-1 index in memory (`contig`), consecutive slots walk the row groups; otherwise they
// walk k. Either way consecutive threads read consecutive addresses, so global loads coalesce.
// w4 is the tile's width in vec4 (32 for A, TN / 4 for B).
fn slot(s: u32, contig: bool, w4: u32) -> vec2u {
  if (contig) {
    return vec2u(s % w4, s / w4);
  }
  return vec2u(s / BK, s % BK);
}

// The first row (from the tile's) of staged A vec4 q: the four rows that thread ty = q % 16 multiplies in half q / 16.
fn slot_row(q: u32) -> u32 {
  return select(4u * q, q / 16u * 64u + q % 16u, SPREAD_ROWS);
}

// Row r (0 … 7) of a thread's block whose first row is m.
fn row_of(m: u32, r: u32) -> u32 {
  return m + r / 4u * 64u + r % 4u * ROW_STEP;
}

fn fetch_a(s: u32, k0: u32, shift: vec4f) -> vec4f {
  if (VEC4_AK) {
    return fetch_a_quad(s, k0);
  }
  let at = slot(s, A_M_CONTIG, 32u);
  let m = m0 + slot_row(at.x);
  let k = k0 + at.y;
  if (VEC4_A) { // rows m … m + 3 at one k, 4-aligned and inside A, unmasked (see VEC4_A)
    return a4[(a_off + m + k * p.a_sk) >> 2u];
  }
  let d = ROW_STEP;
  let v = vec4f(load_a(m, k), load_a(m + d, k), load_a(m + 2u * d, k), load_a(m + 3u * d, k));
  if (A_EXP) {
    let inside = vec4<bool>(a_in(m, k), a_in(m + d, k), a_in(m + 2u * d, k), a_in(m + 3u * d, k));
    return select(vec4f(0.0), exp(v - shift), inside);
  }
  return v;
}

// VEC4_AK: slot s of A as (row of the tile, k quad): a vec4 of k 4·quad … 4·quad + 3 of that row. A warp's lanes
// read every quad of 16 rows (BK = 8) or two quads of 16 rows (BK = 16: whole 32-byte sectors either way), and their
// four scalar stores into the staged tile, word (4·quad + i)·4·ROW + row, fall in 32 different banks.
fn quad_slot(s: u32) -> vec2u {
  if (BK == 16u) {
    let t = s % 8u;
    let j = (s / 8u) % 4u;
    let g = s / 32u;
    return vec2u(g / 2u * 16u + j / 2u * 8u + t, j % 2u + 2u * (g % 2u));
  }
  return vec2u(s / 32u * 16u + s % 16u, s / 16u % 2u);
}

fn fetch_a_quad(s: u32, k0: u32) -> vec4f {
  let at = quad_slot(s);
  return a4[(a_off + (m0 + at.x) * p.a_sm + k0 + 4u * at.y) >> 2u];
}

// Row r of the staged A is lane r % 4 of vec4 column r / 4 (rows consecutive). stage4(…)[0]: the scalar as the
// staged type (f32, or f16 under f16 math).
fn stage_a_quad(tile: u32, s: u32, v: vec4f) {
  let at = quad_slot(s);
  let q = at.x / 4u;
  let c = at.x % 4u;
  let k = tile + 4u * at.y;
  As[k][q][c] = stage4(vec4f(v.x))[0];
  As[k + 1u][q][c] = stage4(vec4f(v.y))[0];
  As[k + 2u][q][c] = stage4(vec4f(v.z))[0];
  As[k + 3u][q][c] = stage4(vec4f(v.w))[0];
}

// Staged B vec4 q holds the four columns that thread tx = q % 16 multiplies in half q / 16 of the tile.
fn fetch_b(s: u32, k0: u32) -> vec4f {
  let at = slot(s, B_N_CONTIG, TN / 4u);
  let n = n0 + select(4u * at.x, at.x / 16u * 64u + at.x % 16u, SPREAD_COLUMNS);
  let k = k0 + at.y;
  if (VEC4_B) { // columns n … n + 3 at one k, 4-aligned (see VEC4_B)
    return b4[(b_off + k * p.b_sk + n) >> 2u];
  }
  let d = COLUMN_STEP;
  return vec4f(load_b(k, n), load_b(k, n + d), load_b(k, n + 2u * d), load_b(k, n + 3u * d));
}

// The tiles starting at k0: BK / 8 slots of A and TN·BK / 1024 of B per thread (those past the B tile unused).
fn fetch(l: u32, k0: u32) -> Staged {
  var v = Staged(fetch_a(l, k0, shift_lo), fetch_b(l, k0), vec4f(0.0), vec4f(0.0));
  if (BK == 16u) {
    v.a1 = fetch_a(l + 256u, k0, shift_hi);
    if (TN == 128u) {
      v.b1 = fetch_b(l + 256u, k0);
    }
  }
  return v;
}

// `tile` (here and below): where the staged tile starts in As and Bs, 0 or BK (the second of two). A parameter, not
// a variable: every call passes a constant, so after inlining the k indices of the multiply are constants.
fn stage_slot(tile: u32, s: u32, va: vec4f, vb: vec4f) {
  if (VEC4_AK) {
    stage_a_quad(tile, s, va);
  } else {
    let at_a = slot(s, A_M_CONTIG, 32u);
    As[tile + at_a.y][at_a.x] = stage4(va);
  }
  if (s < TN / 4u * BK) { // a 64-wide B tile has fewer slots than threads at BK = 8, and none past 255
    let at_b = slot(s, B_N_CONTIG, TN / 4u);
    Bs[tile + at_b.y][at_b.x] = stage4(vb);
  }
}

fn stage(tile: u32, l: u32, v: Staged) {
  stage_slot(tile, l, v.a0, v.b0);
  if (BK == 16u) {
    stage_slot(tile, l + 256u, v.a1, v.b1);
  }
}
