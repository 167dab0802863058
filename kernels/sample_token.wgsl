// sample_token: draws the next token from one logits row on the GPU, as train/sampler.ts's sampleToken does without
// top-k or top-p: temperature 0 takes the argmax (the lowest index among equal maxima); otherwise, with
// p_i = exp((logits[i] - max) / temperature) and total = Σ p_i, the token is the first i whose running sum
// p_0 + … + p_i exceeds goal = coin · total (the last index if rounding leaves none), coin = coins[step] in [0, 1) from the
// host's xorshift64* stream. The chosen id goes to sampled[step] (as a float: ids are < 2^24) and, when write_token
// is 1, into tokens[token_at], the next position's input, so the next forward pass reads it without a round trip.
// The sums run in float32 (the host sampler's in float64): a token can differ only when the coin falls within
// float32 rounding of a boundary of the cumulative distribution.
//
// Threads: one workgroup of WG threads per sample (see _sample.wgsl); thread l owns the contiguous indices [l·chunk, (l+1)·chunk) ∩ [0, V),
// chunk = ceil(V / WG), so the running sum is thread order then index order. Thread 0 finds the chunk where the
// sum crosses and scans it.
// Params and bindings: kernels/_sample.wgsl.

override WG: u32 = 256;

var<workgroup> best_value: array<f32, WG>;
var<workgroup> best_index: array<u32, WG>;
var<workgroup> chunk_sum: array<f32, WG>;

fn weight(i: u32, mx: f32) -> f32 {
  return exp((logits[row_base() + i] - mx) / p.temperature);
}

@compute @workgroup_size(WG)
fn sample_token(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  sample = wid.x;
  let chunk = (p.V + WG - 1u) / WG;
  let first = min(p.V, lid * chunk);
  let last = min(p.V, first + chunk);
  // The chunk's maximum and its first index; then the workgroup's, lower index first among equals.
  var mx = -3.4e38;
  var at = p.V;
  for (var i = first; i < last; i++) {
    let x = logits[row_base() + i];
    if (x > mx) {
      mx = x;
      at = i;
    }
  }
  best_value[lid] = mx;
  best_index[lid] = at;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      let v = best_value[lid + s];
      if (v > best_value[lid] || (v == best_value[lid] && best_index[lid + s] < best_index[lid])) {
        best_value[lid] = v;
        best_index[lid] = best_index[lid + s];
      }
    }
    workgroupBarrier();
  }
  if (p.temperature <= 0.0) {
    if (lid == 0u) {
      choose(best_index[0]);
    }
    return;
  }
  let top = best_value[0];
  var sum = 0.0;
  for (var i = first; i < last; i++) {
    sum += weight(i, top);
  }
  chunk_sum[lid] = sum;
  workgroupBarrier();
  if (lid != 0u) {
    return;
  }
  var total = 0.0;
  for (var t = 0u; t < WG; t++) {
    total += chunk_sum[t];
  }
  let goal = coin() * total;
  var cdf = 0.0;
  for (var t = 0u; t < WG; t++) {
    if (cdf + chunk_sum[t] > goal) {
      // The crossing is in chunk t: scan it in index order.
      for (var i = min(p.V, t * chunk); i < min(p.V, t * chunk + chunk); i++) {
        cdf += weight(i, top);
        if (goal < cdf) {
          choose(i);
          return;
        }
      }
      break; // rounding: the chunk's terms summed to less than its chunk_sum; fall through to the last index
    }
    cdf += chunk_sum[t];
  }
  choose(p.V - 1u);
}
