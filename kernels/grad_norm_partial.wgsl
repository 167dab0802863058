// grad_norm_partial: first stage of Σ grads² over n elements. Workgroup w writes the sum of its threads' partial
// sums to partial[w]; grad_norm_final adds the partials in a fixed order, so the result is deterministic.
//
// Threads: the launcher dispatches a fixed x workgroups (x ≤ the partial slots reserved for this chunk) of WG
// threads; thread g sums elements g, g + x·WG, … (four a step: PER_THREAD) with Kahan compensation, then the
// workgroup reduces its WG sums with workgroup_sum (kernels/_reduce.wgsl; WG must be a power of two).
struct Params {
  grads_base: u32,
  partial_base: u32,
  n: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> grads: array<f32>;
@group(0) @binding(2) var<storage, read_write> partial: array<f32>;

override WG: u32 = 256;
const PER_THREAD: u32 = 4u; // the loop body below is written for four

@compute @workgroup_size(WG)
fn grad_norm_partial(
  @builtin(global_invocation_id) gid: vec3u,
  @builtin(local_invocation_index) lid: u32,
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let stride = nwg.x * WG;
  let last = p.n - 1u;
  var sum = 0.0;
  var carry = 0.0;
  for (var i = gid.x; i < p.n; i += PER_THREAD * stride) {
    // Four elements a step, loaded together (four reads in flight a thread; one at a time was latency-bound),
    // those past n read at n - 1 and counted as 0; then added in order.
    let g0 = grads[p.grads_base + i];
    let g1 = select(0.0, grads[p.grads_base + min(i + stride, last)], i + stride < p.n);
    let g2 = select(0.0, grads[p.grads_base + min(i + 2u * stride, last)], i + 2u * stride < p.n);
    let g3 = select(0.0, grads[p.grads_base + min(i + 3u * stride, last)], i + 3u * stride < p.n);
    kahan_add(&sum, &carry, g0 * g0);
    kahan_add(&sum, &carry, g1 * g1);
    kahan_add(&sum, &carry, g2 * g2);
    kahan_add(&sum, &carry, g3 * g3);
  }
  let total = workgroup_sum(lid, sum);
  if (lid == 0u) {
    partial[p.partial_base + wid.x] = total;
  }
}

// sum += y with Kahan's compensation: carry holds the low-order part the last addition lost.
fn kahan_add(sum: ptr<function, f32>, carry: ptr<function, f32>, value: f32) {
  let y = value - *carry;
  let t = *sum + y;
  *carry = (t - *sum) - y;
  *sum = t;
}
