// layernorm_forward: for each row n of inp (N,C): mean = Σx/C, rstd = 1/√(Σ(x-mean)²/C + 1e-5),
// out = (x - mean)·rstd·weight + bias; mean[n] and rstd[n] are saved for the backward pass. Two passes over the
// row (mean, then centred variance), as the CPU reference does.
//
// Threads: one workgroup of WG threads (a power of two) per row; row = workgroup_id.x + workgroup_id.y·num.x (a 2-D
// grid, since N may exceed 65535). Thread l handles columns l, l + WG, … (four an iteration); sums are reduced with
// workgroup_sum (kernels/_reduce.wgsl).
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
  // Each pass takes four columns an iteration, c, c + WG, c + 2WG, c + 3WG, loaded together (four reads in flight a
  // thread; one at a time was latency-bound); columns past C count as 0 in the sums and are not written.
  var sum = 0.0;
  for (var c = lid; c < p.C; c += 4u * WG) {
    let x = row4(x0, c);
    sum += (x.x + x.y) + (x.z + x.w);
  }
  let m = workgroup_sum(lid, sum) / f32(p.C);
  var sum_sq = 0.0;
  for (var c = lid; c < p.C; c += 4u * WG) {
    let d = (row4(x0, c) - m) * in4(c);
    sum_sq += dot(d, d);
  }
  let r = 1.0 / sqrt(workgroup_sum(lid, sum_sq) / f32(p.C) + 1e-5);
  let o0 = p.out_base + row * p.C;
  for (var c = lid; c < p.C; c += 4u * WG) {
    let y = (row4(x0, c) - m) * r * param4(p.weight_base, c, true) + param4(p.bias_base, c, false);
    out[o0 + c] = y.x;
    if (c + WG < p.C) { out[o0 + c + WG] = y.y; }
    if (c + 2u * WG < p.C) { out[o0 + c + 2u * WG] = y.z; }
    if (c + 3u * WG < p.C) { out[o0 + c + 3u * WG] = y.w; }
  }
  if (lid == 0u) {
    mean[p.mean_base + row] = m;
    rstd[p.rstd_base + row] = r;
  }
}

// 1 for those of columns c, c + WG, c + 2WG, c + 3WG inside the row, else 0.
fn in4(c: u32) -> vec4f {
  let inside = vec3<bool>(c + WG < p.C, c + 2u * WG < p.C, c + 3u * WG < p.C);
  return vec4f(1.0, select(vec3f(0.0), vec3f(1.0), inside));
}

// inp at columns c, c + WG, c + 2WG, c + 3WG of the row starting at x0: those past C read at C - 1, then zeroed.
fn row4(x0: u32, c: u32) -> vec4f {
  let last = p.C - 1u;
  let i = vec4u(c, min(c + WG, last), min(c + 2u * WG, last), min(c + 3u * WG, last)) + x0;
  return vec4f(inp[i.x], inp[i.y], inp[i.z], inp[i.w]) * in4(c);
}

// weight (is_weight) or bias from `base` at the same four columns (clamped; the stores past C are skipped).
fn param4(base: u32, c: u32, is_weight: bool) -> vec4f {
  let last = p.C - 1u;
  let i = vec4u(c, min(c + WG, last), min(c + 2u * WG, last), min(c + 3u * WG, last)) + base;
  if (is_weight) {
    return vec4f(weight[i.x], weight[i.y], weight[i.z], weight[i.w]);
  }
  return vec4f(bias[i.x], bias[i.y], bias[i.z], bias[i.w]);
}
