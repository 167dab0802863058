// softmax_crossentropy_forward: for each row n of logits (N,Vp), over the first V columns only (no probabilities
// are stored; backward recomputes them from lse):
//   lse[n]    = log Σ_{u < V} exp(logits[n,u] - max) + max            (the log of the softmax's denominator);
//   losses[n] = lse[n] - logits[n, targets[n]].
//
// Threads: one workgroup of WG threads (a power of two) per row; row = workgroup_id.x + workgroup_id.y·num.x.
// Thread l keeps an online (max, sum of exp) over columns l, l + WG, …; the row max is reduced with workgroup_max,
// then each sum rescaled to it is reduced with workgroup_sum (kernels/_reduce.wgsl).
struct Params {
  losses_base: u32,
  lse_base: u32,
  logits_base: u32,
  targets_base: u32,
  N: u32,
  V: u32,
  Vp: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> losses: array<f32>;
@group(0) @binding(2) var<storage, read_write> lse: array<f32>;
@group(0) @binding(3) var<storage, read> logits: array<f32>;
@group(0) @binding(4) var<storage, read> targets: array<i32>;

override WG: u32 = 256;

@compute @workgroup_size(WG)
fn softmax_crossentropy_forward(@builtin(local_invocation_index) lid: u32, thread: RowThread) {
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
  if (lid == 0u) {
    let label = u32(targets[p.targets_base + row]);
    let l = log(sum) + row_max;
    lse[p.lse_base + row] = l;
    losses[p.losses_base + row] = l - logits[x0 + label];
  }
}
