// gelu_backward: dinp[i] = GELU'(x)·dout[i], x = inp[i], for i < n (written, not accumulated). With
// u = √(2/π)·(x + 0.044715·x³): GELU'(x) = 0.5·(1 + tanh u) + 0.5·x·(1 - tanh² u)·√(2/π)·(1 + 3·0.044715·x²).
//
// Threads: a 1-D grid-stride loop, four elements a step: the launcher dispatches x = min(ceil(n / (4·WG)),
// maxWorkgroups) workgroups of WG threads (PER_THREAD, read by dispatchElementwise); with s = x·WG, thread g handles
// g, g + s, g + 2s, g + 3s, then g + 4s … . The four loads are issued before any store, so each thread has four in
// flight (one at a time left the H200's memory at ~2.3 TB/s). Reads past n are clamped to n - 1, stores skipped.
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
const PER_THREAD: u32 = 4u; // the loop body below is written for four

@compute @workgroup_size(WG)
fn gelu_backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let s = nwg.x * WG;
  let last = p.n - 1u;
  for (var i = gid.x; i < p.n; i += PER_THREAD * s) {
    let x0 = inp[p.inp_base + i];
    let x1 = inp[p.inp_base + min(i + s, last)];
    let x2 = inp[p.inp_base + min(i + 2u * s, last)];
    let x3 = inp[p.inp_base + min(i + 3u * s, last)];
    let d0 = dout[p.dout_base + i];
    let d1 = dout[p.dout_base + min(i + s, last)];
    let d2 = dout[p.dout_base + min(i + 2u * s, last)];
    let d3 = dout[p.dout_base + min(i + 3u * s, last)];
    dinp[p.dinp_base + i] = gelu_grad(x0) * d0;
    if (i + s < p.n) { dinp[p.dinp_base + i + s] = gelu_grad(x1) * d1; }
    if (i + 2u * s < p.n) { dinp[p.dinp_base + i + 2u * s] = gelu_grad(x2) * d2; }
    if (i + 3u * s < p.n) { dinp[p.dinp_base + i + 3u * s] = gelu_grad(x3) * d3; }
  }
}

fn gelu_grad(x: f32) -> f32 {
  let th = gelu_tanh(x);
  return 0.5 * (1.0 + th) + 0.5 * x * (1.0 - th * th) * GELU_K * (1.0 + 3.0 * GELU_CUBIC * x * x);
}
