// sum_partials: second stage of the chunked reductions (column sums, split-K matmul):
//   out[i] += Σ_{s < count} partial[s·stride + i]   for i < n   (out[i] = … when accumulate is 0; out is not read),
// adding the chunks in order s = 0, 1, … so the result does not depend on scheduling.
//
// Threads: a 1-D grid-stride loop; the launcher dispatches x = min(ceil(n / WG), maxWorkgroups) workgroups of WG
// threads and thread g handles elements g, g + x·WG, …
struct Params {
  out_base: u32,
  partial_base: u32,
  n: u32,
  count: u32,
  stride: u32,
  accumulate: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> partial: array<f32>;

override WG: u32 = 256;

@compute @workgroup_size(WG)
fn sum_partials(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let step = nwg.x * WG;
  for (var i = gid.x; i < p.n; i += step) {
    var sum = 0.0;
    for (var s = 0u; s < p.count; s++) {
      sum += partial[p.partial_base + s * p.stride + i];
    }
    if (p.accumulate != 0u) {
      sum += out[p.out_base + i];
    }
    out[p.out_base + i] = sum;
  }
}
