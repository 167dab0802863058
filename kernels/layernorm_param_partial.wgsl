// layernorm_param_partial: first stage of layernorm's parameter gradients. Rows are cut into chunks of
// rows_per_chunk; for chunk s and column c:
//   partial[s·2C + c]     = Σ_{rows n in chunk s} dout[n,c]·(inp[n,c] - mean[n])·rstd[n]   (→ dweight)
//   partial[s·2C + C + c] = Σ_{rows n in chunk s} dout[n,c]                               (→ dbias)
// sum_partials then adds the chunk sums, in order, to dweight and dbias: deterministic, no atomics.
//
// Threads: workgroups of WX·WY threads; workgroup (x, s) owns columns x·WX … x·WX + WX - 1 of chunk s. Thread
// (cx, ry) sums rows ry, ry + WY, … of the chunk for column x·WX + cx (coalesced along columns), then the WY
// partial sums per column are reduced with column_total (kernels/_column.wgsl). Dispatch: (ceil(C / WX), chunks).
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
  var sum_w = 0.0;
  var sum_b = 0.0;
  if (c < p.C) {
    for (var n = share.first; n < share.last; n += WY) {
      let d = dout[p.dout_base + n * p.C + c];
      let norm = (inp[p.inp_base + n * p.C + c] - mean[p.mean_base + n]) * rstd[p.rstd_base + n];
      sum_w += d * norm;
      sum_b += d;
    }
  }
  let total_w = column_total(lid, sum_w);
  let total_b = column_total(lid, sum_b);
  if (lid.y == 0u && c < p.C) {
    partial[p.partial_base + wid.y * 2u * p.C + c] = total_w;
    partial[p.partial_base + wid.y * 2u * p.C + p.C + c] = total_b;
  }
}
