// layernorm_backward: the input gradient of layernorm, ADDED to dinp (the residual-stream gradient). Per row n,
// with norm = (x - mean)·rstd and g = weight·dout:
//   dinp += (g - mean(g) - norm·mean(g·norm))·rstd.
// The weight and bias gradients are column sums over rows: layernorm_param_partial + sum_partials.
//
// Threads: one workgroup of WG threads (a power of two) per row; row = workgroup_id.x + workgroup_id.y·num.x.
// Thread l handles columns l, l + WG, … (four an iteration); the two row sums are reduced with workgroup_sum
// (kernels/_reduce.wgsl).
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
  // Both passes take four columns an iteration, c, c + WG, c + 2WG, c + 3WG, loaded together (several reads in
  // flight a thread; one column at a time was latency-bound); columns past C count as 0 and are not written.
  var g_sum = 0.0;
  var gn_sum = 0.0;
  for (var c = lid; c < p.C; c += 4u * WG) {
    let at = cols4(c);
    let g = vec4f(weight[p.weight_base + at.x], weight[p.weight_base + at.y], weight[p.weight_base + at.z],
      weight[p.weight_base + at.w]) * vec4f(dout[d0 + at.x], dout[d0 + at.y], dout[d0 + at.z], dout[d0 + at.w]) *
      in4(c);
    let norm = (vec4f(inp[x0 + at.x], inp[x0 + at.y], inp[x0 + at.z], inp[x0 + at.w]) - m) * r;
    g_sum += (g.x + g.y) + (g.z + g.w);
    gn_sum += dot(g, norm);
  }
  let g_mean = workgroup_sum(lid, g_sum) / f32(p.C);
  let gn_mean = workgroup_sum(lid, gn_sum) / f32(p.C);
  let o0 = p.dinp_base + row * p.C;
  for (var c = lid; c < p.C; c += 4u * WG) {
    let at = cols4(c);
    let norm = (vec4f(inp[x0 + at.x], inp[x0 + at.y], inp[x0 + at.z], inp[x0 + at.w]) - m) * r;
    let g = vec4f(weight[p.weight_base + at.x], weight[p.weight_base + at.y], weight[p.weight_base + at.z],
      weight[p.weight_base + at.w]) * vec4f(dout[d0 + at.x], dout[d0 + at.y], dout[d0 + at.z], dout[d0 + at.w]);
    let prev = vec4f(dinp[o0 + at.x], dinp[o0 + at.y], dinp[o0 + at.z], dinp[o0 + at.w]);
    let d = prev + (g - g_mean - norm * gn_mean) * r;
    dinp[o0 + c] = d.x;
    if (c + WG < p.C) { dinp[o0 + c + WG] = d.y; }
    if (c + 2u * WG < p.C) { dinp[o0 + c + 2u * WG] = d.z; }
    if (c + 3u * WG < p.C) { dinp[o0 + c + 3u * WG] = d.w; }
  }
}

// Columns c, c + WG, c + 2WG, c + 3WG of a row, those past C clamped to C - 1 (read, then masked or not written).
fn cols4(c: u32) -> vec4u {
  let last = p.C - 1u;
  return vec4u(c, min(c + WG, last), min(c + 2u * WG, last), min(c + 3u * WG, last));
}

// 1 for those of the four columns inside the row, else 0.
fn in4(c: u32) -> vec4f {
  let inside = vec3<bool>(c + WG < p.C, c + 2u * WG < p.C, c + 3u * WG < p.C);
  return vec4f(1.0, select(vec3f(0.0), vec3f(1.0), inside));
}
