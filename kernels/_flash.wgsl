// _flash: what the three flash attention kernels (flash_attention_forward.wgsl, flash_attention_backward_dq.wgsl,
// flash_attention_backward_dkdv.wgsl) share: where a head starts, and each thread's register blocks. Appended to their
// sources in layers/flash_attention.ts; each of them declares Params p (with T, C, NH), BR, HS4, CPT and `write4`.
//
// All three are register-blocked small GEMMs with the same thread shape: thread l = TX·g + x of the workgroup owns 4
// rows (4g … 4g+3: query rows in forward and dq, keys in dkdv) and, of the TX threads x = 0 … TX-1 sharing those
// rows (TX·rows/4 threads in a workgroup),
//   - in a score step, the block's columns x, x + TX, x + 2·TX, … (KPT = cols/TX ∈ {1, 2, 4, 8} of them): a Scores
//     of vec4 over its 4 rows;
//   - in an accumulation step, the channel groups (vec4) x, x + TX, x + 2·TX, x + 3·TX of the head (CPT = ⌈HS4/TX⌉
//     ≤ 4 of them, those < HS4): a Block of 4 rows × CPT vec4.
// Named fields, not arrays: local arrays are bounds-checked, and dynamically indexed ones are ~30× slower.

// Threads sharing a row group: 8, 16 or 32 (a multiple of 4, so that a row group is whole quads of a subgroup, and
// at least HS4/4, so that CPT ≤ 4).
override TX: u32 = 8u;

// Where head h = bh % NH of batch b = bh / NH starts in a (B, T, width) tensor at `base`.
fn head_start(base: u32, bh: u32, width: u32) -> u32 {
  return base + (bh / p.NH) * p.T * width + (bh % p.NH) * 4u * HS4;
}

// The workgroup's builtins in a query-block kernel (forward, dq): workgroup (x, y) = (query blocks after this one,
// batch·head b·NH + h). Only workgroup-uniform values: a struct that also held local_invocation_index would make
// every member non-uniform to Tint's uniformity analysis (Chromium), and the loops over key blocks hold barriers.
struct QueryBlock {
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
}

// The first query row of the workgroup's block: blocks run from the last (which sees the most keys) to the first.
fn first_query(q: QueryBlock) -> u32 {
  return (q.nwg.x - 1u - q.wid.x) * BR;
}

// s + a·b as four fused multiply-adds (dot() would add a separate sum).
fn dot_add(s: f32, a: vec4f, b: vec4f) -> f32 {
  return fma(a.w, b.w, fma(a.z, b.z, fma(a.y, b.y, fma(a.x, b.x, s))));
}

// One channel group (vec4) of a thread's 4 rows.
struct Rows {
  r0: vec4f,
  r1: vec4f,
  r2: vec4f,
  r3: vec4f,
}

// s + (r0·k, r1·k, r2·k, r3·k): one channel group's term of 4 rows' scores against one column.
fn score4(s: vec4f, r: Rows, k: vec4f) -> vec4f {
  return vec4f(dot_add(s.x, r.r0, k), dot_add(s.y, r.r1, k), dot_add(s.z, r.r2, k), dot_add(s.w, r.r3, k));
}

// A thread's scores (or probabilities, dP, dS): column x + TX·j of the block in s<j>, a vec4 over its 4 rows.
struct Scores {
  s0: vec4f,
  s1: vec4f,
  s2: vec4f,
  s3: vec4f,
  s4: vec4f,
  s5: vec4f,
  s6: vec4f,
  s7: vec4f,
}

// A thread's accumulators: channel group x + TX·k of its 4 rows in c<k>.
struct Block {
  c0: Rows,
  c1: Rows,
  c2: Rows,
  c3: Rows,
}

// r<i> += w[i] · v.
fn rows_add(r: Rows, w: vec4f, v: vec4f) -> Rows {
  return Rows(r.r0 + w.x * v, r.r1 + w.y * v, r.r2 + w.z * v, r.r3 + w.w * v);
}

fn rows_scale(r: Rows, s: vec4f) -> Rows {
  return Rows(r.r0 * s.x, r.r1 * s.y, r.r2 * s.z, r.r3 * s.w);
}

// acc += w ⊗ (v0, v1, v2, v3): one column's term of P·V, dS·K, Pᵀ·dO or dSᵀ·Q (w over the rows, v<k> channel
// group x + TX·k of that column's row).
fn block_add(acc: ptr<function, Block>, w: vec4f, v0: vec4f, v1: vec4f, v2: vec4f, v3: vec4f) {
  (*acc).c0 = rows_add((*acc).c0, w, v0);
  if (CPT > 1u) {
    (*acc).c1 = rows_add((*acc).c1, w, v1);
  }
  if (CPT > 2u) {
    (*acc).c2 = rows_add((*acc).c2, w, v2);
  }
  if (CPT > 3u) {
    (*acc).c3 = rows_add((*acc).c3, w, v3);
  }
}

// acc row i *= s[i].
fn block_scale(acc: ptr<function, Block>, s: vec4f) {
  (*acc).c0 = rows_scale((*acc).c0, s);
  if (CPT > 1u) {
    (*acc).c1 = rows_scale((*acc).c1, s);
  }
  if (CPT > 2u) {
    (*acc).c2 = rows_scale((*acc).c2, s);
  }
  if (CPT > 3u) {
    (*acc).c3 = rows_scale((*acc).c3, s);
  }
}

// Channel group x + TX·k of a row, clamped so that reads stay in bounds (results for groups ≥ HS4 are dropped).
fn group_of(x: u32, k: u32) -> u32 {
  return min(x + TX * k, HS4 - 1u);
}

// Rows rows[i] (those < T) of the head starting at `head`, `stride` floats apart, get acc row i · s[i]: this thread's
// channel groups of them (those below HS4), through the kernel's write4.
fn store_block(head: u32, stride: u32, rows: vec4u, x: u32, acc: Block, s: vec4f) {
  store_group(head, stride, rows, x, rows_scale(acc.c0, s));
  if (CPT > 1u) {
    store_group(head, stride, rows, x + TX, rows_scale(acc.c1, s));
  }
  if (CPT > 2u) {
    store_group(head, stride, rows, x + 2u * TX, rows_scale(acc.c2, s));
  }
  if (CPT > 3u) {
    store_group(head, stride, rows, x + 3u * TX, rows_scale(acc.c3, s));
  }
}

fn store_group(head: u32, stride: u32, rows: vec4u, d: u32, r: Rows) {
  if (d >= HS4) {
    return;
  }
  if (rows.x < p.T) {
    write4(head + rows.x * stride + 4u * d, r.r0);
  }
  if (rows.y < p.T) {
    write4(head + rows.y * stride + 4u * d, r.r1);
  }
  if (rows.z < p.T) {
    write4(head + rows.z * stride + 4u * d, r.r2);
  }
  if (rows.w < p.T) {
    write4(head + rows.w * stride + 4u * d, r.r3);
  }
}
