// grad_norm_final: second stage of Σ grads²: out[0] = Σ_{i < count} partial[i], summed in a fixed order.
//
// Threads: one workgroup of WG threads (a power of two); thread l sums partial[l], partial[l + WG], …, then the
// workgroup reduces the WG sums with workgroup_sum (kernels/_reduce.wgsl).
struct Params {
  out_base: u32,
  partial_base: u32,
  count: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> partial: array<f32>;

override WG: u32 = 256;

@compute @workgroup_size(WG)
fn grad_norm_final(@builtin(local_invocation_index) lid: u32) {
  var sum = 0.0;
  for (var i = lid; i < p.count; i += WG) {
    sum += partial[p.partial_base + i];
  }
  let total = workgroup_sum(lid, sum);
  if (lid == 0u) {
    out[p.out_base] = total;
  }
}
