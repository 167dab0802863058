// grad_norm_partial: first stage of Σ grads² over n elements. Workgroup w writes the sum of its threads' partial
// sums to partial[w]; grad_norm_final adds the partials in a fixed order, so the result is deterministic.
//
// Threads: the launcher dispatches a fixed x workgroups (x ≤ the partial slots reserved for this chunk) of WG
// threads; thread g sums elements g, g + x·WG, … with Kahan compensation, then the workgroup reduces its WG sums
// with workgroup_sum (kernels/_reduce.wgsl; WG must be a power of two).
struct Params {
  grads_base: u32,
  partial_base: u32,
  n: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> grads: array<f32>;
@group(0) @binding(2) var<storage, read_write> partial: array<f32>;

override WG: u32 = 256;

@compute @workgroup_size(WG)
fn grad_norm_partial(
  @builtin(global_invocation_id) gid: vec3u,
  @builtin(local_invocation_index) lid: u32,
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let stride = nwg.x * WG;
  var sum = 0.0;
  var carry = 0.0;
  for (var i = gid.x; i < p.n; i += stride) {
    let g = grads[p.grads_base + i];
    let y = g * g - carry;
    let t = sum + y;
    carry = (t - sum) - y;
    sum = t;
  }
  let total = workgroup_sum(lid, sum);
  if (lid == 0u) {
    partial[p.partial_base + wid.x] = total;
  }
}
