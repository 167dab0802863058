// sample_ranked: draws the next token with top-k and/or top-p on the GPU, as train/sampler.ts's sampleToken does.
// With p_i = exp((logits[i] - max) / temperature) and S = Σ_{i<V} p_i, the tokens are ranked by p (equivalently by
// logit) descending, lower index first among equals. The candidates are the first top_k of that ranking (all when
// top_k is 0 or ≥ V), cut further, when top_p < 1, after the first rank whose cumulative p reaches top_p · S (at
// least one token). The token is the first candidate, in rank order, whose cumulative p exceeds coin · (the
// candidates' total), the last candidate if rounding leaves none. coin = coins[step]; the id goes to sampled[step]
// and, when write_token is 1, into tokens[token_at]. Sums run in float32 (the host's in float64): a token can differ
// only when a cut or the coin falls within float32 rounding of a boundary.
//
// No sort: a rank position is a pair (logit key, index), key = the logit's bits mapped to an order-preserving u32.
// Every "first rank where a running count or mass reaches x" is found by bisection, first over the key (32 halvings)
// and then over the index among equal keys (17), each step one workgroup sum over the V tokens (kernels/_reduce.wgsl).
//
// Threads: one workgroup of WG threads per sample (see _sample.wgsl); thread l owns the contiguous indices [l·chunk, (l+1)·chunk) ∩ [0, V).
// Params and bindings: kernels/_sample.wgsl.

override WG: u32 = 256;

// This thread's indices and the row's maximum logit (set once at the top).
var<private> lo_i: u32;
var<private> hi_i: u32;
var<private> top: f32;

// A rank position: tokens with key > key, or key == key and index ≤ index, come at or before it.
struct Rank {
  key: u32,
  index: u32,
}

fn key_of(x: f32) -> u32 {
  let b = bitcast<u32>(x);
  return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}

fn weight(i: u32) -> f32 {
  return exp((logits[row_base() + i] - top) / p.temperature);
}

// Σ over the row of 1 (mass false) or p_i (mass true) for the tokens at or before rank r.
fn upto(lid: u32, r: Rank, mass: bool) -> f32 {
  var s = 0.0;
  for (var i = lo_i; i < hi_i; i++) {
    let k = key_of(logits[row_base() + i]);
    if (k > r.key || (k == r.key && i <= r.index)) {
      s += select(1.0, weight(i), mass);
    }
  }
  return workgroup_sum(lid, s);
}

// The first rank at which the running count or mass reaches x (exceeds it, when strict); a rank of key 0 when none
// does. Every call runs the same 49 workgroup sums: the halvings stop moving once they have converged.
fn first_reaching(lid: u32, x: f32, mass: bool, strict: bool) -> Rank {
  // The largest key whose tokens (all of them at that key) reach x: keys descend along the ranking.
  var lo = 0u;
  var hi = 0xFFFFFFFFu;
  for (var it = 0u; it < 32u; it++) {
    let mid = lo + (hi - lo) / 2u + (hi - lo) % 2u; // lo when converged
    let v = upto(lid, Rank(mid, 0xFFFFFFFFu), mass);
    if (select(v >= x, v > x, strict)) {
      lo = mid;
    } else if (mid > lo) {
      hi = mid - 1u;
    }
  }
  // Then the lowest index among the tokens of that key that reaches x (V < 2^17).
  var ilo = 0u;
  var ihi = p.V - 1u;
  for (var it = 0u; it < 17u; it++) {
    let mid = ilo + (ihi - ilo) / 2u;
    let v = upto(lid, Rank(lo, mid), mass);
    if (select(v >= x, v > x, strict)) {
      ihi = mid;
    } else {
      ilo = min(mid + 1u, ihi);
    }
  }
  return Rank(lo, ihi);
}

fn before(a: Rank, b: Rank) -> bool {
  return a.key > b.key || (a.key == b.key && a.index < b.index);
}

@compute @workgroup_size(WG)
fn sample_ranked(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  sample = wid.x;
  let chunk = (p.V + WG - 1u) / WG;
  lo_i = min(p.V, lid * chunk);
  hi_i = min(p.V, lo_i + chunk);
  var mx = -3.4e38;
  for (var i = lo_i; i < hi_i; i++) {
    mx = max(mx, logits[row_base() + i]);
  }
  top = workgroup_max(lid, mx);
  let all = Rank(0u, 0xFFFFFFFFu); // at or after every token
  let total = upto(lid, all, true);
  var cut = all;
  if (p.top_k > 0u && p.top_k < p.V) {
    cut = first_reaching(lid, f32(p.top_k), false, false);
  }
  if (p.top_p < 1.0) {
    let by_mass = first_reaching(lid, p.top_p * total, true, false);
    if (before(by_mass, cut)) {
      cut = by_mass;
    }
  }
  let goal = coin() * upto(lid, cut, true);
  var pick = first_reaching(lid, goal, true, true); // the first whose running mass exceeds the goal
  if (before(cut, pick)) {
    pick = cut; // never past the candidates (rounding)
  }
  if (lid == 0u) {
    choose(pick.index);
  }
}
