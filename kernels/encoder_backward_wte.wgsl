// encoder_backward_wte: dwte[token, c] += Σ_{positions n with inp[n] = token} dout[n, c], deterministic and
// without atomics. The host groups the positions of each batch by token when the tokens are written (the GPU
// backend keeps a bucket table per token tensor, as llm.c's CUDA encoder_backward does):
//   buckets[0] = number of distinct tokens U; buckets[1 + 3j …] = (token, first, count) of the j-th distinct token
//   (ascending); buckets[1 + 3·cap + first …] = its positions, ascending.
// Each (bucket j, channel c) is summed by one thread in position order, so the result does not depend on scheduling.
// Rows of dwte may be bound in ranges [v0, v1) (wte larger than one binding); buckets outside are skipped.
//
// Threads: a 1-D grid-stride loop over cap·C (i → j = i / C, c = i % C, coalesced along c); threads with j ≥ U
// stop. The launcher dispatches x = min(ceil(cap·C / WG), maxWorkgroups) workgroups of WG threads.
struct Params {
  dwte_base: u32,
  dout_base: u32,
  buckets_base: u32,
  cap: u32,
  C: u32,
  v0: u32,
  v1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dwte: array<f32>;
@group(0) @binding(2) var<storage, read> dout: array<f32>;
@group(0) @binding(3) var<storage, read> buckets: array<i32>;

override WG: u32 = 256;

@compute @workgroup_size(WG)
fn encoder_backward_wte(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let stride = nwg.x * WG;
  let used = u32(buckets[p.buckets_base]);
  let total = used * p.C;
  let positions = p.buckets_base + 1u + 3u * p.cap;
  for (var i = gid.x; i < total; i += stride) {
    let j = i / p.C;
    let c = i % p.C;
    let token = u32(buckets[p.buckets_base + 1u + 3u * j]);
    if (token < p.v0 || token >= p.v1) {
      continue;
    }
    let first = u32(buckets[p.buckets_base + 2u + 3u * j]);
    let count = u32(buckets[p.buckets_base + 3u + 3u * j]);
    var sum = 0.0;
    for (var k = 0u; k < count; k++) {
      let n = u32(buckets[positions + first + k]);
      sum += dout[p.dout_base + n * p.C + c];
    }
    dwte[p.dwte_base + (token - p.v0) * p.C + c] += sum;
  }
}
