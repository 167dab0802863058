// softmax_crossentropy_forward: for each row n of logits (N,Vp), over the first V columns only:
//   probs[n,v] = exp(logits[n,v] - max) / Σ_{u < V} exp(logits[n,u] - max)   for v < V,   0 for V ≤ v < Vp;
//   losses[n]  = log Σ_{u < V} exp(logits[n,u] - max) + max - logits[n, targets[n]].
//
// Threads: one workgroup of WG threads (a power of two) per row; row = workgroup_id.x + workgroup_id.y·num.x.
// Thread l keeps an online (max, sum of exp) over columns l, l + WG, …; the row max is reduced with workgroup_max,
// then each sum rescaled to it is reduced with workgroup_sum (kernels/_reduce.wgsl).
struct Params {
  losses_base: u32,
  probs_base: u32,
  logits_base: u32,
  targets_base: u32,
  N: u32,
  V: u32,
  Vp: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> losses: array<f32>;
@group(0) @binding(2) var<storage, read_write> probs: array<f32>;
@group(0) @binding(3) var<storage, read> logits: array<f32>;
@group(0) @binding(4) var<storage, read> targets: array<i32>;

override WG: u32 = 256;

@compute @workgroup_size(WG)
fn softmax_crossentropy_forward(thread: RowThread) {
  let lid = thread.lid;
  let row = row_of(thread);
  if (row >= p.N) {
    return;
  }
  let x0 = p.logits_base + row * p.Vp;
  var mx = -3.0e38;
  var sum = 0.0;
  for (var v = lid; v < p.V; v += WG) {
    let x = logits[x0 + v];
    if (x > mx) {
      sum *= exp(mx - x);
      mx = x;
    }
    sum += exp(x - mx);
  }
  // Each thread's (max, sum) pair, rescaled to the row's max, then summed.
  let row_max = workgroup_max(lid, mx);
  sum = workgroup_sum(lid, sum * exp(mx - row_max));
  mx = row_max;
  let inv = 1.0 / sum;
  let o0 = p.probs_base + row * p.Vp;
  for (var v = lid; v < p.Vp; v += WG) {
    var prob = 0.0;
    if (v < p.V) {
      prob = exp(logits[x0 + v] - mx) * inv;
    }
    probs[o0 + v] = prob;
  }
  if (lid == 0u) {
    let label = u32(targets[p.targets_base + row]);
    losses[p.losses_base + row] = log(sum) + mx - logits[x0 + label];
  }
}
