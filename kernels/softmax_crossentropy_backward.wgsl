// softmax_crossentropy_backward: the fused classifier's gradient, in place. dlogits (N,Vp) holds the logits on
// entry and d loss / d logits on return:
//   dlogits[n,v] = (exp(logits[n,v] - lse[n]) - [v == targets[n]]) · dloss   for v < V,   0 for V ≤ v < Vp,
// where exp(logits - lse) is the softmax (lse from softmax_crossentropy_forward).
//
// Threads: one workgroup of WG threads per row (row = workgroup_id.x + workgroup_id.y·num.x, kernels/_reduce.wgsl's
// RowThread); thread l reads and writes columns l, l + WG, … of its row (four an iteration), so every element is
// read before it is overwritten by the same thread.
struct Params {
  dlogits_base: u32,
  lse_base: u32,
  targets_base: u32,
  N: u32,
  V: u32,
  Vp: u32,
  dloss: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dlogits: array<f32>;
@group(0) @binding(2) var<storage, read> lse: array<f32>;
@group(0) @binding(3) var<storage, read> targets: array<i32>;

override WG: u32 = 256;

@compute @workgroup_size(WG)
fn softmax_crossentropy_backward(@builtin(local_invocation_index) lid: u32, thread: RowThread) {
  let row = row_of(thread);
  if (row >= p.N) {
    return;
  }
  let x0 = p.dlogits_base + row * p.Vp;
  let l = lse[p.lse_base + row];
  let label = u32(targets[p.targets_base + row]);
  // Four columns an iteration, all four read before any is written (the reads and writes share a buffer, so one
  // column at a time waited for each read), those past Vp read at column Vp - 1 and not written.
  let last = p.Vp - 1u;
  for (var v = lid; v < p.Vp; v += 4u * WG) {
    let a = dlogits[x0 + v];
    let b = dlogits[x0 + min(v + WG, last)];
    let c = dlogits[x0 + min(v + 2u * WG, last)];
    let d = dlogits[x0 + min(v + 3u * WG, last)];
    dlogits[x0 + v] = grad(v, a, l, label);
    if (v + WG < p.Vp) { dlogits[x0 + v + WG] = grad(v + WG, b, l, label); }
    if (v + 2u * WG < p.Vp) { dlogits[x0 + v + 2u * WG] = grad(v + 2u * WG, c, l, label); }
    if (v + 3u * WG < p.Vp) { dlogits[x0 + v + 3u * WG] = grad(v + 3u * WG, d, l, label); }
  }
}

// Column v's gradient from its logit x and the row's lse and label; 0 in the padding (v ≥ V).
fn grad(v: u32, x: f32, l: f32, label: u32) -> f32 {
  if (v >= p.V) {
    return 0.0;
  }
  return (exp(x - l) - select(0.0, 1.0, v == label)) * p.dloss;
}
