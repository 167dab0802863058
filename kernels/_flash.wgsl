// _flash: what the three flash attention kernels (flash_attention_forward.wgsl, flash_attention_backward_dq.wgsl,
// flash_attention_backward_dkdv.wgsl) share: where a head starts, and each thread's accumulators. Appended to their
// sources in layers/flash_attention.ts; each of them declares Params p (with T, C, NH), BR, HS4 and `write4`.

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

// One thread's share of a block product: rows (or keys) 0 … 3 of its group, each over channels 4x … 4x+3 (a) and
// 64 + 4x … 64 + 4x+3 (b, used when hs > 64). Named fields, not an array: local arrays are bounds-checked.
struct Rows4 {
  r0a: vec4f,
  r1a: vec4f,
  r2a: vec4f,
  r3a: vec4f,
  r0b: vec4f,
  r1b: vec4f,
  r2b: vec4f,
  r3b: vec4f,
}

// acc.r<i> += w[i] · (a, b): one term of P·V, dS·K or dSᵀ·Q.
fn rows4_add(acc: ptr<function, Rows4>, w: vec4f, a: vec4f, b: vec4f) {
  (*acc).r0a += w.x * a;
  (*acc).r1a += w.y * a;
  (*acc).r2a += w.z * a;
  (*acc).r3a += w.w * a;
  if (HS4 > 16u) {
    (*acc).r0b += w.x * b;
    (*acc).r1b += w.y * b;
    (*acc).r2b += w.z * b;
    (*acc).r3b += w.w * b;
  }
}

// acc.r<i> *= s[i].
fn rows4_scale(acc: ptr<function, Rows4>, s: vec4f) {
  (*acc).r0a *= s.x;
  (*acc).r1a *= s.y;
  (*acc).r2a *= s.z;
  (*acc).r3a *= s.w;
  (*acc).r0b *= s.x;
  (*acc).r1b *= s.y;
  (*acc).r2b *= s.z;
  (*acc).r3b *= s.w;
}

// Rows rows[i] (those < T) of the head starting at `head`, `stride` floats apart, get acc.r<i> · s[i]: this thread's
// channels of them (those below hs), through the kernel's write4.
fn store_rows(head: u32, stride: u32, rows: vec4u, x: u32, acc: Rows4, s: vec4f) {
  store_row(head, stride, rows.x, x, acc.r0a * s.x, acc.r0b * s.x);
  store_row(head, stride, rows.y, x, acc.r1a * s.y, acc.r1b * s.y);
  store_row(head, stride, rows.z, x, acc.r2a * s.z, acc.r2b * s.z);
  store_row(head, stride, rows.w, x, acc.r3a * s.w, acc.r3b * s.w);
}

fn store_row(head: u32, stride: u32, r: u32, x: u32, va: vec4f, vb: vec4f) {
  if (r >= p.T) {
    return;
  }
  if (x < HS4) {
    write4(head + r * stride + 4u * x, va);
  }
  if (x + 16u < HS4) {
    write4(head + r * stride + 4u * (x + 16u), vb);
  }
}
