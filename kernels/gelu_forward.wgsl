// gelu_forward: out[i] = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), x = inp[i], for i < n (GPT-2's tanh GELU).
// The tanh is gelu_tanh (kernels/_gelu.wgsl), with its argument clamped to ±10.
//
// Threads: a 1-D grid-stride loop, four elements a step: the launcher dispatches x = min(ceil(n / (4·WG)),
// maxWorkgroups) workgroups of WG threads (PER_THREAD, read by dispatchElementwise); with s = x·WG, thread g handles
// g, g + s, g + 2s, g + 3s, then g + 4s … . The four loads are issued before any store, so each thread has four in
// flight (one at a time left the H200's memory at ~2.3 TB/s). Reads past n are clamped to n - 1, stores skipped.
struct Params {
  out_base: u32,
  inp_base: u32,
  n: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> inp: array<f32>;

override WG: u32 = 256;
const PER_THREAD: u32 = 4u; // the loop body below is written for four

@compute @workgroup_size(WG)
fn gelu_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let s = nwg.x * WG;
  let last = p.n - 1u;
  for (var i = gid.x; i < p.n; i += PER_THREAD * s) {
    let x0 = inp[p.inp_base + i];
    let x1 = inp[p.inp_base + min(i + s, last)];
    let x2 = inp[p.inp_base + min(i + 2u * s, last)];
    let x3 = inp[p.inp_base + min(i + 3u * s, last)];
    out[p.out_base + i] = gelu(x0);
    if (i + s < p.n) { out[p.out_base + i + s] = gelu(x1); }
    if (i + 2u * s < p.n) { out[p.out_base + i + 2u * s] = gelu(x2); }
    if (i + 3u * s < p.n) { out[p.out_base + i + 3u * s] = gelu(x3); }
  }
}

fn gelu(x: f32) -> f32 {
  return 0.5 * x * (1.0 + gelu_tanh(x));
}
