// encoder_backward_wpe: dwpe[t, c] += Σ_{b < B} dout[b·T + t, c], summed in batch order (deterministic).
//
// Threads: a 1-D grid-stride loop over the T·C outputs (i → t = i / C, c = i % C); the launcher dispatches
// x = min(ceil(T·C / WG), maxWorkgroups) workgroups of WG threads.
struct Params {
  dwpe_base: u32,
  dout_base: u32,
  B: u32,
  T: u32,
  C: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dwpe: array<f32>;
@group(0) @binding(2) var<storage, read> dout: array<f32>;

override WG: u32 = 256;

@compute @workgroup_size(WG)
fn encoder_backward_wpe(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let stride = nwg.x * WG;
  let total = p.T * p.C;
  for (var i = gid.x; i < total; i += stride) {
    var sum = 0.0;
    for (var b = 0u; b < p.B; b++) {
      sum += dout[p.dout_base + b * total + i];
    }
    dwpe[p.dwpe_base + i] += sum;
  }
}
