// layernorm_param_partial: first stage of layernorm's parameter gradients. Rows are cut into chunks of
// rows_per_chunk; for chunk s and column c:
//   partial[s·2C + c]     = Σ_{rows n in chunk s} dout[n,c]·(inp[n,c] - mean[n])·rstd[n]   (→ dweight)
//   partial[s·2C + C + c] = Σ_{rows n in chunk s} dout[n,c]                               (→ dbias)
// sum_partials then adds the chunk sums, in order, to dweight and dbias: deterministic, no atomics.
//
// Threads: workgroups of WX·WY threads; workgroup (x, s) owns columns x·WX … x·WX + WX - 1 of chunk s. Thread
// (cx, ry) sums rows ry, ry + WY, … of the chunk for column x·WX + cx (coalesced along columns; four rows an
// iteration), then the WY partial sums per column are reduced with column_total (kernels/_column.wgsl). Dispatch:
// (ceil(C / WX), chunks).
struct Params {
  partial_base: u32,
  dout_base: u32,
  inp_base: u32,
  mean_base: u32,
  rstd_base: u32,
  N: u32,
  C: u32,
  rows_per_chunk: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> partial: array<f32>;
@group(0) @binding(2) var<storage, read> dout: array<f32>;
@group(0) @binding(3) var<storage, read> inp: array<f32>;
@group(0) @binding(4) var<storage, read> mean: array<f32>;
@group(0) @binding(5) var<storage, read> rstd: array<f32>;

@compute @workgroup_size(WX, WY)
fn layernorm_param_partial(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let share = column_share(lid, wid, p.N, p.rows_per_chunk);
  let c = share.c;
  // Four rows an iteration into four pairs of sums, so each thread has eight loads in flight (one row at a time
  // was latency-bound, as in colsum_partial), then the rest of the chunk; the sums are added in a fixed order.
  var w0 = 0.0;
  var w1 = 0.0;
  var w2 = 0.0;
  var w3 = 0.0;
  var b0 = 0.0;
  var b1 = 0.0;
  var b2 = 0.0;
  var b3 = 0.0;
  if (c < p.C) {
    var n = share.first;
    for (; n + 3u * WY < share.last; n += 4u * WY) {
      let n1 = n + WY;
      let n2 = n + 2u * WY;
      let n3 = n + 3u * WY;
      let d0 = dout[p.dout_base + n * p.C + c];
      let d1 = dout[p.dout_base + n1 * p.C + c];
      let d2 = dout[p.dout_base + n2 * p.C + c];
      let d3 = dout[p.dout_base + n3 * p.C + c];
      let x0 = inp[p.inp_base + n * p.C + c];
      let x1 = inp[p.inp_base + n1 * p.C + c];
      let x2 = inp[p.inp_base + n2 * p.C + c];
      let x3 = inp[p.inp_base + n3 * p.C + c];
      w0 += d0 * ((x0 - mean[p.mean_base + n]) * rstd[p.rstd_base + n]);
      w1 += d1 * ((x1 - mean[p.mean_base + n1]) * rstd[p.rstd_base + n1]);
      w2 += d2 * ((x2 - mean[p.mean_base + n2]) * rstd[p.rstd_base + n2]);
      w3 += d3 * ((x3 - mean[p.mean_base + n3]) * rstd[p.rstd_base + n3]);
      b0 += d0;
      b1 += d1;
      b2 += d2;
      b3 += d3;
    }
    for (; n < share.last; n += WY) {
      let d = dout[p.dout_base + n * p.C + c];
      w0 += d * ((inp[p.inp_base + n * p.C + c] - mean[p.mean_base + n]) * rstd[p.rstd_base + n]);
      b0 += d;
    }
  }
  let sum_w = (w0 + w1) + (w2 + w3);
  let sum_b = (b0 + b1) + (b2 + b3);
  let total_w = column_total(lid, sum_w);
  let total_b = column_total(lid, sum_b);
  if (lid.y == 0u && c < p.C) {
    partial[p.partial_base + wid.y * 2u * p.C + c] = total_w;
    partial[p.partial_base + wid.y * 2u * p.C + p.C + c] = total_b;
  }
}
