// gelu_forward: out[i] = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), x = inp[i], for i < n (GPT-2's tanh GELU).
// The tanh is gelu_tanh (kernels/_gelu.wgsl), with its argument clamped to ±10.
//
// Threads: a 1-D grid-stride loop; the launcher dispatches x = min(ceil(n / WG), maxWorkgroups) workgroups of WG
// threads and thread g handles elements g, g + x·WG, …
struct Params {
  out_base: u32,
  inp_base: u32,
  n: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> inp: array<f32>;

override WG: u32 = 256;

@compute @workgroup_size(WG)
fn gelu_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let stride = nwg.x * WG;
  for (var i = gid.x; i < p.n; i += stride) {
    let x = inp[p.inp_base + i];
    out[p.out_base + i] = 0.5 * x * (1.0 + gelu_tanh(x));
  }
}
