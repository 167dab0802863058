// attention_softmax_backward: the causal softmax's backward. For each row (z, t) and t2 ≤ t:
//   dpreatt[z,t,t2] = att[z,t,t2] · (datt[z,t,t2] - Σ_{t3 ≤ t} att[z,t,t3] · datt[z,t,t3]).
// Entries t2 > t are neither read nor written (the matmuls that consume dpreatt mask them). The 1/√hs of the
// scores is applied by those matmuls (alpha), so dpreatt matches the CPU reference's scratch.
//
// Threads: one workgroup of WG threads (a power of two) per row; row = workgroup_id.x + workgroup_id.y·num.x,
// t = row % T. Thread l handles columns l, l + WG, …; the dot product is reduced with workgroup_sum
// (kernels/_reduce.wgsl).
struct Params {
  dpreatt_base: u32,
  att_base: u32,
  datt_base: u32,
  rows: u32,
  T: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dpreatt: array<f32>;
@group(0) @binding(2) var<storage, read> att: array<f32>;
@group(0) @binding(3) var<storage, read> datt: array<f32>;

override WG: u32 = 128;

@compute @workgroup_size(WG)
fn attention_softmax_backward(@builtin(local_invocation_index) lid: u32, thread: RowThread) {
  let row = row_of(thread);
  if (row >= p.rows) {
    return;
  }
  let t = row % p.T;
  let a0 = p.att_base + row * p.T;
  let d0 = p.datt_base + row * p.T;
  var dot = 0.0;
  for (var t2 = lid; t2 <= t; t2 += WG) {
    dot += att[a0 + t2] * datt[d0 + t2];
  }
  let total = workgroup_sum(lid, dot);
  let o0 = p.dpreatt_base + row * p.T;
  for (var t2 = lid; t2 <= t; t2 += WG) {
    dpreatt[o0 + t2] = att[a0 + t2] * (datt[d0 + t2] - total);
  }
}
