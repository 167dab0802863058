// attention_lse_combine: each attention row's log-sum-exp from the (max, sum) pairs that q·kᵀ's row-LSE form wrote
// for it, one pair per column tile of TN scores (kernels/_gemm_row_lse.wgsl):
//   lse[r] = M + log Σ_j sum_j · exp(max_j − M),   M = max_j max_j,   j = 0 … t / TN,
// for rows r = z·T + t of the group's (Z,T) scores, the pairs at parts[2·(r·tiles + j)] and the one after. Tiles past
// t / TN hold no score of row t (causal), and q·kᵀ skips those wholly above the diagonal, so they are never read.
// The pairs are combined in tile order (a fixed order: the same lse on every run).
//
// Threads: one per row, on a 2-D grid of WG-thread workgroups (the rows may exceed 65535 · WG):
// r = (workgroup_id.x + workgroup_id.y·num.x)·WG + lid.
struct Params {
  lse_base: u32,
  parts_base: u32,
  rows: u32,
  T: u32,
  tiles: u32,
  TN: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> lse: array<f32>;
@group(0) @binding(2) var<storage, read> parts: array<f32>;

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn attention_lse_combine(@builtin(local_invocation_index) lid: u32, thread: RowThread) {
  let r = row_of(thread) * WG + lid;
  if (r >= p.rows) {
    return;
  }
  let at = p.parts_base + 2u * r * p.tiles;
  let last = (r % p.T) / p.TN;
  var mx = parts[at];
  var sum = parts[at + 1u];
  for (var j = 1u; j <= last; j++) {
    let m = parts[at + 2u * j];
    let s = parts[at + 2u * j + 1u];
    let top = max(mx, m);
    sum = sum * exp(mx - top) + s * exp(m - top);
    mx = top;
  }
  lse[p.lse_base + r] = mx + log(sum);
}
