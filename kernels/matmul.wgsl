// matmul: a batched, strided SGEMM used by every dense product of the model (matmul forward/backward and the four
// products inside attention). For batch z and 0 ≤ m < M, 0 ≤ n < N:
//   c[z][m,n] = alpha · Σ_{k in [k_begin, k_end)} A[z][m,k] · B[z][k,n]  (+ bias[n] if has_bias)
// with A[z][m,k] = a[a_base + za + m·a_sm + k·a_sk], B[z][k,n] = b[b_base + zb + k·b_sk + n·b_sn] and
// c[z][m,n] = c[c_base + zc + m·c_sm + n]. The batch index splits as z = zo·z_inner + zi, and each operand's batch
// offset is zo·so + zi·si (attention: zo = batch, zi = head). Split-K uses zo as the K slice:
// k_begin = zo·k_zstride, k_end = min(K, k_begin + k_chunk); k_zstride = 0 and k_chunk = K otherwise.
// The output is written, never read: accumulation (dweight +=) goes through scratch and sum_partials.
// row_exp = 1 writes c[z][m,n] = exp(alpha · Σ_k A·B − v[z][m]) instead, with v[z][m] = bias[bias_base + zo·vec_so +
// zi·vec_si + m] (bias is then a per-row vector, not added): attention's probabilities recomputed from its scores
// and the saved log-sum-exp of their rows, softmax and all, in the product that makes the scores. softmax_grad = 1
// writes c[z][m,n] = aux[z][m,n] · (alpha · Σ_k A·B − v[z][m]), aux laid out as c (aux_base its start): the softmax's
// backward in the product dout·vᵀ, with aux = att and v = D = rowsum(dout ∘ out).
//
// A_EXP (an override) reads A[z][m,k] as exp(A[z][m,k] − v[z][m]), v as for row_exp, and entries outside A or
// under the mask as 0: attention's probabilities made from the raw scores and their rows' log-sum-exp while att·v
// stages them, so no probability matrix is written in the forward pass. Only where A's k index has stride 1
// (A_M_CONTIG false: a thread's staged rows are then the same at every K step, and their v is read once).
//
// causal (attention's lower-triangular T×T matrices): 0 none; 1 only c[m,n] with n ≤ m is computed and written
// (tiles wholly above the diagonal exit at once); 2 A[m,k] is taken as 0 for k > m (att·V, dpreatt·K); 3 A[m,k]
// is taken as 0 for k < m (attᵀ·dout, dpreattᵀ·Q). Entries of A on the masked side are never read.
// Layout, bias and causal mode are uniforms rather than overrides, so one pipeline per BK serves every product
// (fewer shader compiles; the branches they add are uniform and outside the multiply loop).
//
// Threads: 256 per workgroup, each computing an 8×8 block of a 128×128 output tile held in an Acc of 16 NAMED vec4f
// accumulators (a dynamically indexed private array is ~30x slower on NVIDIA). Thread (tx, ty) = (l % 16, l / 16)
// owns rows {ty, ty+16, ty+32, ty+48} and 64 + those (SPREAD_ROWS; else {4ty … 4ty+3, 64+4ty … 64+4ty+3}) and
// columns {tx, tx+16, tx+32, tx+48} and 64 + those (SPREAD_COLUMNS; else {4tx … 4tx+3, 64+4tx … 64+4tx+3}) of the
// tile, so its shared-memory reads are two vec4 of A and two of B per k. Tiles of BK (16, an override) along K are
// staged in workgroup memory (k-major, padded to 33 vec4 per k against bank conflicts; indexed [k][vec4 column], so
// that in the multiply the k index is a constant and the column index, which WGSL clamps to the array, is the same
// for every k: the clamps stay out of the loop); the next tile is prefetched into
// registers while the current one is multiplied, one k at a time by `mac`, written out four at a time (`mac4`).
// A_M_CONTIG / B_N_CONTIG say which index has stride 1 in memory, and the 256 loading threads walk that index
// consecutively so global loads coalesce for either layout (`slot`). Every load and store is bounds checked, so M,
// N and K need not be multiples of anything (unless EXACT says they are).
// Dispatch: (ceil(N / TN), ceil(M / 128), batches · K slices); (ceil(N / TN), batches, ceil(M / 128)) with
// HEAVY_FIRST; or (ceil(M / 128), ceil(N / TN), …) with m_fastest, which makes consecutive workgroups share a B tile
// instead of an A tile: the launcher sets it when B is the larger operand (the classifier's wte). (On the H200 the
// order did not change the classifier's time: N first, M first, and M first in groups of 16 tile rows all ran it at
// 33.4-33.6 TFLOP/s.) The tile size is fixed by the accumulators.
// Params and bindings: kernels/_gemm_bindings.wgsl and _gemm_b_f32.wgsl (or _f16); the loads and staging of the
// tiles: kernels/_gemm_stage.wgsl; the stores of the output tile
// (plain, row_exp, softmax_grad): kernels/_gemm_epilogue.wgsl; the arithmetic: _gemm_math_f32.wgsl (float32, into
// the Acc) or _gemm_math_f16.wgsl (native f16 tiles and fragments, short f16 runs added into the float32 Acc: the
// type frag4, stage4 converting a staged vec4f to it, the Run, flush and total); all appended in gpu/_gemm.ts.

// K-tile depth: 16 on GPUs; 8 on CPU adapters (llvmpipe), whose shader compile time grows with the square of the
// workgroup memory (16.9 KB at BK = 16 takes ~15 s to compile there, 8.4 KB ~4 s). Must be 8 or 16.
override BK: u32 = 16u;

// The layout of the operands (which index has stride 1 in memory) and the width of the output tile: 128, or 64 for
// products whose N is at most 64 (attention's products with the head size as N), where a 128-wide tile would be
// half padding. Overrides, so each layout compiles its own loads.
override A_M_CONTIG: bool = false;
override B_N_CONTIG: bool = false;
override TN: u32 = 128u;

// EXACT: the launcher promises that M is a multiple of 128, N of TN and every K slice of BK, so loads and stores
// skip their bounds checks (every GPT-2 product at B·T a multiple of 128, and attention's at T a multiple of 128);
// a causal mask still applies (its K ranges start and end on tile rows, so they stay whole K steps).
// PIPELINE_FRAGMENTS: each k's register fragments (two vec4 of A, two of B) are read from workgroup memory while the
// previous k is multiplied, instead of just before (`mac_pipelined`). Variants compared by dev/bench_matmul.ts.
override EXACT: bool = false;
override PIPELINE_FRAGMENTS: bool = false;
// SPREAD_COLUMNS: a thread's four columns in each half of the tile are 16 apart (tx, tx+16, tx+32, tx+48), not
// consecutive (4tx … 4tx+3), so that each of its stores (and bias loads) is one of 16 consecutive floats across the
// lanes: whole 32-byte sectors, where consecutive columns wrote every sector in four pieces 16 bytes apart. The
// staged B vec4 hold those columns, so the multiply is the same, and so is every sum's order.
override SPREAD_COLUMNS: bool = true;
// Columns between a thread's consecutive columns of one half of the tile, and between threads' first columns.
override COLUMN_STEP: u32 = select(1u, 16u, SPREAD_COLUMNS);
override THREAD_COLUMNS: u32 = select(4u, 1u, SPREAD_COLUMNS);
// SPREAD_ROWS: the same for a thread's rows: {ty, ty+16, ty+32, ty+48} and 64 + those instead of {4ty … 4ty+3,
// …}, so that loads of an A whose rows are its stride-1 index (A_M_CONTIG: the weight gradients' doutᵀ, attᵀ)
// read 16 consecutive floats across the lanes (the launcher sets it for those products only).
override SPREAD_ROWS: bool = true;
override ROW_STEP: u32 = select(1u, 16u, SPREAD_ROWS);
override THREAD_ROWS: u32 = select(4u, 1u, SPREAD_ROWS);
// DOUBLE_BUFFER: two staged tiles in workgroup memory, taking turns, so one barrier per K step instead of two (the
// tile being staged is never the one another thread may still be multiplying: every thread has passed this step's
// barrier, after its multiply of the previous step's tile, before anyone stages over the tile before that).
// The launcher sets it for the products whose B is n-contiguous, at BK = 8 (GemmOptions.doubleBufferNContigB: faster
// there), and elsewhere only where asked (matmulDoubleBuffer: at BK = 16 slower since stop 21).
override DOUBLE_BUFFER: bool = false;
override STAGES: u32 = select(1u, 2u, DOUBLE_BUFFER);
// The native f16 arithmetic's knobs (kernels/_gemm_math_f16.wgsl; the float32 math ignores them). F16_RUN: K-loop
// iterations per f16 run before it is added into the float32 Acc. STAGE_NEAREST: staged values rounded to halves by
// _half_bits.wgsl (nearest, ties to even) instead of the f16 conversion (whose rounding WGSL leaves to the GPU).
// Declared here with the others, before every function: Deno 2.9.6's naga (29) panics when it specializes a
// pipeline whose overrides are declared after the functions that use them (seen with these two in the math file).
override F16_RUN: u32 = 1u;
override STAGE_NEAREST: bool = false;
// See the header (attention's att·v from its scores).
override A_EXP: bool = false;
// HEAVY_FIRST, for the products whose A is masked (causal 2 or 3: a row tile's K range grows or shrinks with its
// row): every batch's longest row tile first, then every batch's next longest, and so on, so that the longest
// workgroups start first and the last wave is not a few long ones (the dispatch is then (column tiles, batches, row
// tiles): wid.z is the row tile's rank by length, wid.y the batch).
override HEAVY_FIRST: bool = false;
// VEC4_A, VEC4_B: the loads of an A whose rows are its stride-1 index (A_M_CONTIG, rows consecutive: not SPREAD_ROWS)
// read each staged vec4 as one vec4 load through a4, and those of a B whose columns are (B_N_CONTIG, not
// SPREAD_COLUMNS) through b4, instead of four scalar loads: the launcher sets them for products of whole tiles and K
// steps (B under a causal mask too: the mask is A's) where those operands' offsets and strides
// are multiples of 4 (`GemmOptions.vec4Loads`); VEC4_A only where A is not masked.
override VEC4_A: bool = false;
override VEC4_B: bool = false;
// VEC4_AK: the same for an A whose k index has stride 1 (the forward products' inp, the input gradients' dout): each
// slot is one vec4 along k of one row, stored into the staged tile as four scalars (`quad_slot`); unmasked A, rows
// consecutive (not SPREAD_ROWS), whole tiles.
override VEC4_AK: bool = false;

const TILE: u32 = 128u; // rows of the output tile
const ROW: u32 = 33u; // vec4 per k row of a staged tile: 128 / 4 + 1 padding against bank conflicts

// [stage · BK + k][vec4 column]: rows of ROW vec4 (the inner size must be a constant; the outer may be an override).
var<workgroup> As: array<array<frag4, ROW>, STAGES * BK>;
var<workgroup> Bs: array<array<frag4, ROW>, STAGES * BK>;

// A thread's share of the next A and B tiles, in flight in registers: slot l of each, and slot l + 256 when BK = 16
// (named fields, not an indexed array).
struct Staged {
  a0: vec4f,
  b0: vec4f,
  a1: vec4f,
  b1: vec4f,
}

// The thread's 8×8 block of the output tile: row r's four columns in the tile's first half in r<r>a, those 64 on in
// r<r>b; rows r = 0 … 3 in the tile's first half and 4 … 7 in the second (row_of; see the header for the thread's
// rows and columns; named fields: see the header too).
struct Acc {
  r0a: vec4f,
  r0b: vec4f,
  r1a: vec4f,
  r1b: vec4f,
  r2a: vec4f,
  r2b: vec4f,
  r3a: vec4f,
  r3b: vec4f,
  r4a: vec4f,
  r4b: vec4f,
  r5a: vec4f,
  r5b: vec4f,
  r6a: vec4f,
  r6b: vec4f,
  r7a: vec4f,
  r7b: vec4f,
}

// Per-workgroup constants, set once at the top of `matmul` (loop bounds are kept in locals there, so barriers stay
// in uniform control flow).
var<private> a_off: u32;
var<private> b_off: u32;
var<private> c_off: u32;
var<private> m0: u32;
var<private> n0: u32;
var<private> k_end: u32;
// With A_EXP: v of the four rows of this thread's A slot l (shift_lo) and slot l + 256 (shift_hi).
var<private> shift_lo: vec4f;
var<private> shift_hi: vec4f;
var<private> v_base: u32; // where this batch's v starts in `bias` (row_exp, softmax_grad, A_EXP)

// One k's register fragments: two vec4 of A and two of B, the thread's rows and columns in each half of the tile (the
// second B unused when TN = 64).
struct Frag {
  a_lo: frag4,
  a_hi: frag4,
  b_lo: frag4,
  b_hi: frag4,
}

fn frag(tile: u32, kk: u32, tx: u32, ty: u32) -> Frag {
  let k = tile + kk;
  var f = Frag(As[k][ty], As[k][16u + ty], Bs[k][tx], frag4(0.0));
  if (TN == 128u) {
    f.b_hi = Bs[k][16u + tx];
  }
  return f;
}

// The thread's 8×8 block (8×4 when TN = 64) += A[rows, k] ⊗ B[k, columns] for one k's fragments (mad4: c + a·b
// with a splat, from _gemm_math_*.wgsl).
fn mac_frag(acc: ptr<function, Run>, f: Frag) {
  (*acc).r0a = mad4(f.a_lo.x, f.b_lo, (*acc).r0a);
  (*acc).r1a = mad4(f.a_lo.y, f.b_lo, (*acc).r1a);
  (*acc).r2a = mad4(f.a_lo.z, f.b_lo, (*acc).r2a);
  (*acc).r3a = mad4(f.a_lo.w, f.b_lo, (*acc).r3a);
  (*acc).r4a = mad4(f.a_hi.x, f.b_lo, (*acc).r4a);
  (*acc).r5a = mad4(f.a_hi.y, f.b_lo, (*acc).r5a);
  (*acc).r6a = mad4(f.a_hi.z, f.b_lo, (*acc).r6a);
  (*acc).r7a = mad4(f.a_hi.w, f.b_lo, (*acc).r7a);
  if (TN == 128u) {
    (*acc).r0b = mad4(f.a_lo.x, f.b_hi, (*acc).r0b);
    (*acc).r1b = mad4(f.a_lo.y, f.b_hi, (*acc).r1b);
    (*acc).r2b = mad4(f.a_lo.z, f.b_hi, (*acc).r2b);
    (*acc).r3b = mad4(f.a_lo.w, f.b_hi, (*acc).r3b);
    (*acc).r4b = mad4(f.a_hi.x, f.b_hi, (*acc).r4b);
    (*acc).r5b = mad4(f.a_hi.y, f.b_hi, (*acc).r5b);
    (*acc).r6b = mad4(f.a_hi.z, f.b_hi, (*acc).r6b);
    (*acc).r7b = mad4(f.a_hi.w, f.b_hi, (*acc).r7b);
  }
}

// One k of the staged tiles.
fn mac(acc: ptr<function, Run>, tile: u32, kk: u32, tx: u32, ty: u32) {
  mac_frag(acc, frag(tile, kk, tx, ty));
}

// Every k of the staged tiles with the next k's fragments read before this one's are multiplied (written out: the
// indices stay constant offsets).
fn mac_pipelined(acc: ptr<function, Run>, tile: u32, tx: u32, ty: u32) {
  var f = frag(tile, 0u, tx, ty);
  var g = frag(tile, 1u, tx, ty);
  mac_frag(acc, f);
  f = frag(tile, 2u, tx, ty);
  mac_frag(acc, g);
  g = frag(tile, 3u, tx, ty);
  mac_frag(acc, f);
  f = frag(tile, 4u, tx, ty);
  mac_frag(acc, g);
  g = frag(tile, 5u, tx, ty);
  mac_frag(acc, f);
  f = frag(tile, 6u, tx, ty);
  mac_frag(acc, g);
  g = frag(tile, 7u, tx, ty);
  mac_frag(acc, f);
  if (BK == 16u) {
    f = frag(tile, 8u, tx, ty);
    mac_frag(acc, g);
    g = frag(tile, 9u, tx, ty);
    mac_frag(acc, f);
    f = frag(tile, 10u, tx, ty);
    mac_frag(acc, g);
    g = frag(tile, 11u, tx, ty);
    mac_frag(acc, f);
    f = frag(tile, 12u, tx, ty);
    mac_frag(acc, g);
    g = frag(tile, 13u, tx, ty);
    mac_frag(acc, f);
    f = frag(tile, 14u, tx, ty);
    mac_frag(acc, g);
    g = frag(tile, 15u, tx, ty);
    mac_frag(acc, f);
  }
  mac_frag(acc, g);
}

// Four consecutive k from k: written out rather than looped, so that every index into the tiles is a constant
// offset (measured on the H200: +15-20% over a loop of BK steps, which the driver does not unroll).
fn mac4(acc: ptr<function, Run>, tile: u32, k: u32, tx: u32, ty: u32) {
  mac(acc, tile, k, tx, ty);
  mac(acc, tile, k + 1u, tx, ty);
  mac(acc, tile, k + 2u, tx, ty);
  mac(acc, tile, k + 3u, tx, ty);
}

// One K step: stage the tile fetched last step into `tile`, fetch the next, and multiply the staged one.
fn k_step(acc: ptr<function, Run>, next: ptr<function, Staged>, tile: u32, l: u32, k0: u32, k_stop: u32) {
  let tx = l % 16u;
  let ty = l / 16u;
  if (!DOUBLE_BUFFER) {
    workgroupBarrier(); // everyone is done reading the previous tile
  }
  stage(tile, l, *next);
  workgroupBarrier();
  if (k0 + BK < k_stop) {
    *next = fetch(l, k0 + BK); // in flight while this tile is multiplied
  }
  if (PIPELINE_FRAGMENTS) {
    mac_pipelined(acc, tile, tx, ty);
  } else {
    mac4(acc, tile, 0u, tx, ty);
    mac4(acc, tile, 4u, tx, ty);
    if (BK == 16u) {
      mac4(acc, tile, 8u, tx, ty);
      mac4(acc, tile, 12u, tx, ty);
    }
  }
}

@compute @workgroup_size(256)
fn matmul(@builtin(local_invocation_index) l: u32, @builtin(workgroup_id) wid: vec3u) {
  var row_tile = wid.y;
  var z = wid.z;
  if (HEAVY_FIRST) {
    row_tile = wid.z;
    z = wid.y;
    if (p.causal == 2u) { // the last rows have the longest K range (causal 3: the first)
      row_tile = (p.M + TILE - 1u) / TILE - 1u - row_tile;
    }
  }
  var tile_m = row_tile * TILE;
  var tile_n = wid.x * TN;
  if (p.m_fastest != 0u) { // (never with HEAVY_FIRST)
    tile_m = wid.x * TILE;
    tile_n = wid.y * TN;
  }
  if (p.causal == 1u && tile_n > tile_m + TILE - 1u) {
    return; // the whole tile is above the diagonal
  }
  m0 = tile_m;
  n0 = tile_n;
  let zo = z / p.z_inner;
  let zi = z % p.z_inner;
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
  v_base = p.bias_base + zo * p.vec_so + zi * p.vec_si;
  if (A_EXP) { // A_M_CONTIG is false: slot s stages the rows from m0 + slot_row(s / BK) at every K step
    shift_lo = shift4(m0 + slot_row(l / BK));
    shift_hi = shift4(m0 + slot_row((l + 256u) / BK));
  }

  let tx = l % 16u;
  let ty = l / 16u;
  var sums = Acc(); // the float32 totals of the runs so far (unused with float32 math, whose run is the total)
  var run = Run(); // what the multiply accumulates into (_gemm_math_*.wgsl)
  var next = fetch(l, k_begin);
  var steps = 0u;
  // Two K steps per iteration when double-buffered, one into each staged tile, so each step's tile is a constant.
  for (var k0 = k_begin; k0 < k_stop; k0 += STAGES * BK) {
    k_step(&run, &next, 0u, l, k0, k_stop);
    if (DOUBLE_BUFFER && k0 + BK < k_stop) {
      k_step(&run, &next, BK, l, k0 + BK, k_stop);
    }
    steps += 1u;
    if (steps % F16_RUN == 0u) {
      flush(&sums, &run);
    }
  }
  var acc = total(&sums, &run);

  let m = tile_m + ty * THREAD_ROWS;
  let n = tile_n + tx * THREAD_COLUMNS;
  if (p.row_exp != 0u) {
    store_row_exp(&acc, m, n, v_base);
    return;
  }
  if (p.softmax_grad != 0u) {
    store_softmax_grad(&acc, m, n, v_base, p.aux_base + zo * p.c_so + zi * p.c_si);
    return;
  }
  store_plain(&acc, m, n);
}
