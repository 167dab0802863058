// softmax_crossentropy_backward: the fused classifier's gradient, in place. dlogits (N,Vp) holds the logits on
// entry and d loss / d logits on return:
//   dlogits[n,v] = (exp(logits[n,v] - lse[n]) - [v == targets[n]]) · dloss   for v < V,   0 for V ≤ v < Vp,
// where exp(logits - lse) is the softmax (lse from softmax_crossentropy_forward).
//
// Threads: one workgroup of WG threads per row (row = workgroup_id.x + workgroup_id.y·num.x, kernels/_reduce.wgsl's
// RowThread); thread l reads and writes columns l, l + WG, … of its row, so every element is read before it is
// overwritten by the same thread.
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
  for (var v = lid; v < p.Vp; v += WG) {
    var d = 0.0;
    if (v < p.V) {
      d = (exp(dlogits[x0 + v] - l) - select(0.0, 1.0, v == label)) * p.dloss;
    }
    dlogits[x0 + v] = d;
  }
}
