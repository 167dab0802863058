// softmax_crossentropy_backward: dlogits[n,v] = (probs[n,v] - [v == targets[n]]) · dloss for v < V, 0 for the
// padded columns V ≤ v < Vp (written, not accumulated).
//
// Threads: a 1-D grid-stride loop over the N·Vp elements (i → n = i / Vp, v = i % Vp); the launcher dispatches
// x = min(ceil(N·Vp / WG), maxWorkgroups) workgroups of WG threads.
struct Params {
  dlogits_base: u32,
  probs_base: u32,
  targets_base: u32,
  N: u32,
  V: u32,
  Vp: u32,
  dloss: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dlogits: array<f32>;
@group(0) @binding(2) var<storage, read> probs: array<f32>;
@group(0) @binding(3) var<storage, read> targets: array<i32>;

override WG: u32 = 256;

@compute @workgroup_size(WG)
fn softmax_crossentropy_backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let stride = nwg.x * WG;
  let total = p.N * p.Vp;
  for (var i = gid.x; i < total; i += stride) {
    let n = i / p.Vp;
    let v = i % p.Vp;
    var d = 0.0;
    if (v < p.V) {
      let hit = select(0.0, 1.0, i32(v) == targets[p.targets_base + n]);
      d = (probs[p.probs_base + i] - hit) * p.dloss;
    }
    dlogits[p.dlogits_base + i] = d;
  }
}
