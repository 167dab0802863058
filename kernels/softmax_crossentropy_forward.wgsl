// softmax_crossentropy_forward: for each row n of logits (N,Vp), over the first V columns only (no probabilities
// are stored; backward recomputes them from lse):
//   lse[n]    = log Σ_{u < V} exp(logits[n,u] - max) + max            (the log of the softmax's denominator);
//   losses[n] = lse[n] - logits[n, targets[n]].
//
// Threads: one workgroup of WG threads (a power of two) per row; row = workgroup_id.x + workgroup_id.y·num.x.
// Thread l keeps an online (max, sum of exp) over columns l, l + WG, … (four an iteration); the row max is reduced with workgroup_max,
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
  // Four columns an iteration, loaded together (four reads in flight a thread; one at a time was latency-bound),
  // those past V read at column V - 1 and counted as -3e38 (their exp is 0).
  let last = p.V - 1u;
  for (var v = lid; v < p.V; v += 4u * WG) {
    let a = logits[x0 + v];
    let b = select(-3.0e38, logits[x0 + min(v + WG, last)], v + WG < p.V);
    let c = select(-3.0e38, logits[x0 + min(v + 2u * WG, last)], v + 2u * WG < p.V);
    let d = select(-3.0e38, logits[x0 + min(v + 3u * WG, last)], v + 3u * WG < p.V);
    let m = max(max(mx, a), max(b, max(c, d)));
    sum = sum * exp(mx - m) + exp(a - m) + exp(b - m) + exp(c - m) + exp(d - m);
    mx = m;
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
