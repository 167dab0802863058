// flash_attention_backward_delta: the row term of the softmax backward, D (B,NH,T), for the flash backward kernels:
//   D[b,h,t] = Σ_i dout[b,t,h·hs + i] · out[b,t,h·hs + i]   ( = Σ_t2 P[t,t2]·dP[t,t2], since out[t] = Σ_t2 P·v ),
// over rows r = (b·T + t)·NH + h of the (B,T,C) tensors, whose hs channels start at element r·hs.
//
// Threads: RW lanes per row (16), WG / RW rows per workgroup of 256: row = (workgroup_id.x + workgroup_id.y·num.x)·
// (WG / RW) + lid / RW (a 2-D grid: the workgroups may exceed 65535). Lane l sums channels l, l + RW, … of its row,
// so a workgroup reads its rows' contiguous channels side by side (one thread a row read rows 4·hs bytes apart: 390
// GB/s on the H200 at d12), and the lanes add their sums (kernels/_reduce_lanes.wgsl, a fixed order).
struct Params {
  delta_base: u32,
  out_base: u32,
  dout_base: u32,
  rows: u32,
  T: u32,
  NH: u32,
  hs: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> delta: array<f32>;
@group(0) @binding(2) var<storage, read> out: array<f32>;
@group(0) @binding(3) var<storage, read> dout: array<f32>;

override WG: u32 = 256u;
override RW: u32 = 16u;

@compute @workgroup_size(WG)
fn flash_attention_backward_delta(@builtin(local_invocation_index) lid: u32, thread: RowThread) {
  let r = row_of(thread) * (WG / RW) + lid / RW;
  let lane = lid % RW;
  // No channels past the last row, whose lanes still take part in the reduction.
  let end = select(0u, p.hs, r < p.rows);
  var sum = 0.0;
  for (var i = lane; i < end; i += RW) {
    sum += dout[p.dout_base + r * p.hs + i] * out[p.out_base + r * p.hs + i];
  }
  sum = lanes_sum(lid, lane, sum);
  if (lane == 0u && r < p.rows) {
    let bt = r / p.NH;
    let h = r % p.NH;
    let b = bt / p.T;
    let t = bt % p.T;
    delta[p.delta_base + (b * p.NH + h) * p.T + t] = sum;
  }
}
