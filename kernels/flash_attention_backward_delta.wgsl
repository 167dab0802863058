// flash_attention_backward_delta: the row term of the softmax backward, D (B,NH,T), for the flash backward kernels:
//   D[b,h,t] = Σ_i dout[b,t,h·hs + i] · out[b,t,h·hs + i]   ( = Σ_t2 P[t,t2]·dP[t,t2], since out[t] = Σ_t2 P·v ),
// over rows r = (b·T + t)·NH + h of the (B,T,C) tensors, whose hs channels start at element r·hs.
//
// Threads: a 1-D grid-stride loop, one thread per row; the launcher dispatches x = min(ceil(rows / WG),
// maxWorkgroups) workgroups of WG threads and thread g handles rows g, g + x·WG, …
struct Params {
  delta_base: u32,
  out_base: u32,
  dout_base: u32,
  rows: u32,
  T: u32,
  NH: u32,
  hs: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> delta: array<f32>;
@group(0) @binding(2) var<storage, read> out: array<f32>;
@group(0) @binding(3) var<storage, read> dout: array<f32>;

override WG: u32 = 256;

@compute @workgroup_size(WG)
fn flash_attention_backward_delta(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let stride = nwg.x * WG;
  for (var r = gid.x; r < p.rows; r += stride) {
    var sum = 0.0;
    for (var i = 0u; i < p.hs; i++) {
      sum += dout[p.dout_base + r * p.hs + i] * out[p.out_base + r * p.hs + i];
    }
    let bt = r / p.NH;
    let h = r % p.NH;
    let b = bt / p.T;
    let t = bt % p.T;
    delta[p.delta_base + (b * p.NH + h) * p.T + t] = sum;
  }
}
