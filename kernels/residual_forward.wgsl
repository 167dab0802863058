// residual_forward: out[i] = inp1[i] + inp2[i] for i < n.
//
// Threads: a 1-D grid-stride loop; the launcher dispatches x = min(ceil(n / WG), maxWorkgroups) workgroups of WG
// threads and thread g handles elements g, g + x·WG, …
struct Params {
  out_base: u32,
  inp1_base: u32,
  inp2_base: u32,
  n: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> inp1: array<f32>;
@group(0) @binding(3) var<storage, read> inp2: array<f32>;

override WG: u32 = 256;

@compute @workgroup_size(WG)
fn residual_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let stride = nwg.x * WG;
  for (var i = gid.x; i < p.n; i += stride) {
    out[p.out_base + i] = inp1[p.inp1_base + i] + inp2[p.inp2_base + i];
  }
}
