// gelu_backward: dinp[i] = GELU'(x)·dout[i], x = inp[i], for i < n (written, not accumulated). With
// u = √(2/π)·(x + 0.044715·x³): GELU'(x) = 0.5·(1 + tanh u) + 0.5·x·(1 - tanh² u)·√(2/π)·(1 + 3·0.044715·x²).
//
// Threads: a 1-D grid-stride loop; the launcher dispatches x = min(ceil(n / WG), maxWorkgroups) workgroups of WG
// threads and thread g handles elements g, g + x·WG, …
struct Params {
  dinp_base: u32,
  inp_base: u32,
  dout_base: u32,
  n: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dinp: array<f32>;
@group(0) @binding(2) var<storage, read> inp: array<f32>;
@group(0) @binding(3) var<storage, read> dout: array<f32>;

override WG: u32 = 256;

@compute @workgroup_size(WG)
fn gelu_backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let stride = nwg.x * WG;
  for (var i = gid.x; i < p.n; i += stride) {
    let x = inp[p.inp_base + i];
    let th = gelu_tanh(x);
    let local_grad = 0.5 * (1.0 + th) + 0.5 * x * (1.0 - th * th) * GELU_K * (1.0 + 3.0 * GELU_CUBIC * x * x);
    dinp[p.dinp_base + i] = local_grad * dout[p.dout_base + i];
  }
}
