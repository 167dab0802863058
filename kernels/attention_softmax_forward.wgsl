// attention_softmax_forward: the causal softmax of attention. For each row (z, t) of the (Z,T,T) score matrices
// (Z = batch·heads), with scores preatt[z,t,t2] = q·k/√hs already scaled by the matmul:
//   att[z,t,t2] = exp(preatt - max) / Σ_{t3 ≤ t} exp(preatt[z,t,t3] - max)   for t2 ≤ t.
// Only entries t2 ≤ t of preatt are read, and only entries t2 ≤ t of att are written: the products that read att
// (att·V, attᵀ·dout) and the softmax's backward mask the rest (the CPU form writes zeros there). With has_lse = 1 it
// also writes lse[z,t] = max + log Σ exp(preatt - max), from which the backward pass recomputes att in the q·kᵀ
// product itself (matmul.wgsl's row_exp). With write_att = 0 it writes lse only and leaves att alone (one read of the
// scores instead of two and a write): att·v then makes the probabilities from preatt and lse as it stages them
// (matmul.wgsl's A_EXP).
//
// Threads: RW lanes per row (the launcher's choice, GpuExecutorOptions.attentionSoftmaxLanes), WG / RW rows per
// workgroup of 256. Row = (workgroup_id.x + workgroup_id.y·num.x)·(WG / RW) + lid / RW (a 2-D grid: the workgroups
// may exceed 65535), z = row / T, t = row % T. Lane l handles columns l, l + RW, … (four an iteration), keeping a
// running max and a sum rescaled to it (an online softmax: one pass for both); the row's lanes combine them (kernels/_reduce_lanes.wgsl),
// and a second pass writes the probabilities.
struct Params {
  att_base: u32,
  preatt_base: u32,
  lse_base: u32,
  rows: u32,
  T: u32,
  has_lse: u32,
  write_att: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> att: array<f32>;
@group(0) @binding(2) var<storage, read> preatt: array<f32>;
@group(0) @binding(3) var<storage, read_write> lse: array<f32>;

override WG: u32 = 256u;
override RW: u32 = 64u;

@compute @workgroup_size(WG)
fn attention_softmax_forward(@builtin(local_invocation_index) lid: u32, thread: RowThread) {
  let row = row_of(thread) * (WG / RW) + lid / RW;
  let lane = lid % RW;
  // Columns 0 … t of the row; none past the last row, whose lanes still take part in the reductions.
  let end = select(0u, row % p.T + 1u, row < p.rows);
  let src = p.preatt_base + row * p.T;
  var mx = -3.0e38;
  var sum = 0.0;
  // Four columns an iteration, loaded together (four reads in flight a lane; one at a time was latency-bound), those
  // past the row's end read at its last column and counted as -3e38 (their exp is 0).
  for (var t2 = lane; t2 < end; t2 += 4u * RW) {
    let last = end - 1u;
    let x0 = preatt[src + t2];
    let x1 = select(-3.0e38, preatt[src + min(t2 + RW, last)], t2 + RW < end);
    let x2 = select(-3.0e38, preatt[src + min(t2 + 2u * RW, last)], t2 + 2u * RW < end);
    let x3 = select(-3.0e38, preatt[src + min(t2 + 3u * RW, last)], t2 + 3u * RW < end);
    let m = max(max(mx, x0), max(x1, max(x2, x3)));
    sum = sum * exp(mx - m) + exp(x0 - m) + exp(x1 - m) + exp(x2 - m) + exp(x3 - m);
    mx = m;
  }
  let row_max = lanes_max(lid, lane, mx);
  // A lane that saw no column (t < lane) holds sum 0 at the sentinel max: exp() of a huge negative, still 0.
  let total = lanes_sum(lid, lane, sum * exp(mx - row_max));
  let inv = 1.0 / total;
  if (p.has_lse != 0u && lane == 0u && end > 0u) {
    lse[p.lse_base + row] = row_max + log(total);
  }
  let dst = p.att_base + row * p.T;
  for (var t2 = lane; t2 < select(0u, end, p.write_att != 0u); t2 += RW) {
    att[dst + t2] = exp(preatt[src + t2] - row_max) * inv;
  }
}
