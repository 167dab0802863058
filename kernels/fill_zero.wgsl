// fill_zero: out[i] = 0 for i < n (the `zero` op; also clears scratch).
//
// Threads: a 1-D grid-stride loop. The launcher dispatches x = min(ceil(n / WG), maxWorkgroups) workgroups of WG
// threads; thread g handles elements g, g + x·WG, g + 2·x·WG, …
struct Params {
  out_base: u32,
  n: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

override WG: u32 = 256;

@compute @workgroup_size(WG)
fn fill_zero(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let stride = nwg.x * WG;
  for (var i = gid.x; i < p.n; i += stride) {
    out[p.out_base + i] = 0.0;
  }
}
