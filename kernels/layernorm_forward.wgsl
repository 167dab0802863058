// layernorm_forward: for each row n of inp (N,C): mean = Σx/C, rstd = 1/√(Σ(x-mean)²/C + 1e-5),
// out = (x - mean)·rstd·weight + bias; mean[n] and rstd[n] are saved for the backward pass. Two passes over the
// row (mean, then centred variance), as the CPU reference does.
//
// Threads: one workgroup of WG threads (a power of two) per row; row = workgroup_id.x + workgroup_id.y·num.x (a 2-D
// grid, since N may exceed 65535). Thread l handles columns l, l + WG, …; sums are reduced with workgroup_sum
// (kernels/_reduce.wgsl).
struct Params {
  out_base: u32,
  mean_base: u32,
  rstd_base: u32,
  inp_base: u32,
  weight_base: u32,
  bias_base: u32,
  N: u32,
  C: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read_write> mean: array<f32>;
@group(0) @binding(3) var<storage, read_write> rstd: array<f32>;
@group(0) @binding(4) var<storage, read> inp: array<f32>;
@group(0) @binding(5) var<storage, read> weight: array<f32>;
@group(0) @binding(6) var<storage, read> bias: array<f32>;

override WG: u32 = 128;

@compute @workgroup_size(WG)
fn layernorm_forward(@builtin(local_invocation_index) lid: u32, thread: RowThread) {
  let row = row_of(thread);
  if (row >= p.N) {
    return;
  }
  let x0 = p.inp_base + row * p.C;
  var sum = 0.0;
  for (var c = lid; c < p.C; c += WG) {
    sum += inp[x0 + c];
  }
  let m = workgroup_sum(lid, sum) / f32(p.C);
  var sum_sq = 0.0;
  for (var c = lid; c < p.C; c += WG) {
    let d = inp[x0 + c] - m;
    sum_sq += d * d;
  }
  let r = 1.0 / sqrt(workgroup_sum(lid, sum_sq) / f32(p.C) + 1e-5);
  let o0 = p.out_base + row * p.C;
  for (var c = lid; c < p.C; c += WG) {
    out[o0 + c] = (inp[x0 + c] - m) * r * weight[p.weight_base + c] + bias[p.bias_base + c];
  }
  if (lid == 0u) {
    mean[p.mean_base + row] = m;
    rstd[p.rstd_base + row] = r;
  }
}
