// layernorm_backward: the input gradient of layernorm, ADDED to dinp (the residual-stream gradient). Per row n,
// with norm = (x - mean)·rstd and g = weight·dout:
//   dinp += (g - mean(g) - norm·mean(g·norm))·rstd.
// The weight and bias gradients are column sums over rows: layernorm_param_partial + sum_partials.
//
// Threads: one workgroup of WG threads (a power of two) per row; row = workgroup_id.x + workgroup_id.y·num.x.
// Thread l handles columns l, l + WG, …; the two row sums are reduced with workgroup_sum (kernels/_reduce.wgsl).
struct Params {
  dinp_base: u32,
  dout_base: u32,
  inp_base: u32,
  weight_base: u32,
  mean_base: u32,
  rstd_base: u32,
  N: u32,
  C: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dinp: array<f32>;
@group(0) @binding(2) var<storage, read> dout: array<f32>;
@group(0) @binding(3) var<storage, read> inp: array<f32>;
@group(0) @binding(4) var<storage, read> weight: array<f32>;
@group(0) @binding(5) var<storage, read> mean: array<f32>;
@group(0) @binding(6) var<storage, read> rstd: array<f32>;

override WG: u32 = 128;

@compute @workgroup_size(WG)
fn layernorm_backward(@builtin(local_invocation_index) lid: u32, thread: RowThread) {
  let row = row_of(thread);
  if (row >= p.N) {
    return;
  }
  let m = mean[p.mean_base + row];
  let r = rstd[p.rstd_base + row];
  let x0 = p.inp_base + row * p.C;
  let d0 = p.dout_base + row * p.C;
  var g_sum = 0.0;
  var gn_sum = 0.0;
  for (var c = lid; c < p.C; c += WG) {
    let g = weight[p.weight_base + c] * dout[d0 + c];
    g_sum += g;
    gn_sum += g * (inp[x0 + c] - m) * r;
  }
  let g_mean = workgroup_sum(lid, g_sum) / f32(p.C);
  let gn_mean = workgroup_sum(lid, gn_sum) / f32(p.C);
  let o0 = p.dinp_base + row * p.C;
  for (var c = lid; c < p.C; c += WG) {
    let norm = (inp[x0 + c] - m) * r;
    let g = weight[p.weight_base + c] * dout[d0 + c];
    dinp[o0 + c] += (g - g_mean - norm * gn_mean) * r;
  }
}
