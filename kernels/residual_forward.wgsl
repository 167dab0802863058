// residual_forward: out[i] = inp1[i] + inp2[i] for i < n.
//
// Threads: a 1-D grid-stride loop, four elements a step: the launcher dispatches x = min(ceil(n / (4·WG)),
// maxWorkgroups) workgroups of WG threads (PER_THREAD, read by dispatchElementwise); with s = x·WG, thread g handles
// g, g + s, g + 2s, g + 3s, then g + 4s … . The four loads are issued before any store, so each thread has four in
// flight (one at a time left the H200's memory at ~2.3 TB/s). Reads past n are clamped to n - 1, stores skipped.
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
const PER_THREAD: u32 = 4u; // the loop body below is written for four

@compute @workgroup_size(WG)
fn residual_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let s = nwg.x * WG;
  let last = p.n - 1u;
  for (var i = gid.x; i < p.n; i += PER_THREAD * s) {
    let a0 = inp1[p.inp1_base + i];
    let a1 = inp1[p.inp1_base + min(i + s, last)];
    let a2 = inp1[p.inp1_base + min(i + 2u * s, last)];
    let a3 = inp1[p.inp1_base + min(i + 3u * s, last)];
    let b0 = inp2[p.inp2_base + i];
    let b1 = inp2[p.inp2_base + min(i + s, last)];
    let b2 = inp2[p.inp2_base + min(i + 2u * s, last)];
    let b3 = inp2[p.inp2_base + min(i + 3u * s, last)];
    out[p.out_base + i] = a0 + b0;
    if (i + s < p.n) { out[p.out_base + i + s] = a1 + b1; }
    if (i + 2u * s < p.n) { out[p.out_base + i + 2u * s] = a2 + b2; }
    if (i + 3u * s < p.n) { out[p.out_base + i + 3u * s] = a3 + b3; }
  }
}
