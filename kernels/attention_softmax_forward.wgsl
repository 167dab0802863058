// attention_softmax_forward: the causal softmax of attention. For each row (z, t) of the (Z,T,T) score matrices
// (Z = batch·heads), with scores preatt[z,t,t2] = q·k/√hs already scaled by the matmul:
//   att[z,t,t2] = exp(preatt - max) / Σ_{t3 ≤ t} exp(preatt[z,t,t3] - max)   for t2 ≤ t,   0 for t2 > t.
// Only entries t2 ≤ t of preatt are read.
//
// Threads: one workgroup of WG threads (a power of two) per row; row = workgroup_id.x + workgroup_id.y·num.x
// (2-D grid: Z·T may exceed 65535), z = row / T, t = row % T. Thread l handles columns l, l + WG, …; the max and
// the sum are reduced with kernels/_reduce.wgsl.
struct Params {
  att_base: u32,
  preatt_base: u32,
  rows: u32,
  T: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> att: array<f32>;
@group(0) @binding(2) var<storage, read> preatt: array<f32>;

override WG: u32 = 128;

@compute @workgroup_size(WG)
fn attention_softmax_forward(@builtin(local_invocation_index) lid: u32, thread: RowThread) {
  let row = row_of(thread);
  if (row >= p.rows) {
    return;
  }
  let t = row % p.T;
  let src = p.preatt_base + row * p.T;
  var mx = -3.0e38;
  for (var t2 = lid; t2 <= t; t2 += WG) {
    mx = max(mx, preatt[src + t2]);
  }
  mx = workgroup_max(lid, mx);
  var sum = 0.0;
  for (var t2 = lid; t2 <= t; t2 += WG) {
    sum += exp(preatt[src + t2] - mx);
  }
  let inv = 1.0 / workgroup_sum(lid, sum);
  let dst = p.att_base + row * p.T;
  for (var t2 = lid; t2 < p.T; t2 += WG) {
    var v = 0.0;
    if (t2 <= t) {
      v = exp(preatt[src + t2] - mx) * inv;
    }
    att[dst + t2] = v;
  }
}
