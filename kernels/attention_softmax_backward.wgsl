// attention_softmax_backward: the causal softmax's backward. For each row (z, t) and t2 ≤ t:
//   dpreatt[z,t,t2] = att[z,t,t2] · (datt[z,t,t2] - Σ_{t3 ≤ t} att[z,t,t3] · datt[z,t,t3]).
// Entries t2 > t are neither read nor written (the matmuls that consume dpreatt mask them). The 1/√hs of the
// scores is applied by those matmuls (alpha), so dpreatt matches the CPU reference's scratch.
//
// Threads: RW lanes per row, WG / RW rows per workgroup, as in attention_softmax_forward.wgsl (row, z and t alike).
// Lane l handles columns l, l + RW, …; the dot product is reduced over the row's lanes (kernels/_reduce_lanes.wgsl).
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

override WG: u32 = 256u;
override RW: u32 = 64u;

@compute @workgroup_size(WG)
fn attention_softmax_backward(@builtin(local_invocation_index) lid: u32, thread: RowThread) {
  let row = row_of(thread) * (WG / RW) + lid / RW;
  let lane = lid % RW;
  let end = select(0u, row % p.T + 1u, row < p.rows); // none past the last row (its lanes still reduce)
  let a0 = p.att_base + row * p.T;
  let d0 = p.datt_base + row * p.T;
  var dot = 0.0;
  for (var t2 = lane; t2 < end; t2 += RW) {
    dot += att[a0 + t2] * datt[d0 + t2];
  }
  let total = lanes_sum(lid, lane, dot);
  let o0 = p.dpreatt_base + row * p.T;
  for (var t2 = lane; t2 < end; t2 += RW) {
    dpreatt[o0 + t2] = att[a0 + t2] * (datt[d0 + t2] - total);
  }
}
