// attention_decode: causal attention of query rows over the rows before them (decoding with a KV cache; see
// layers/attention_decode.ts). The rows of inp (3C each: q, k, v) interleave S = samples sequences position-major:
// row r is position ⌊r / S⌋ of sample r mod S. For query row r = row + j, head h, hs = C / NH, and its sample's rows
// u(t2) = t2·S + (r mod S), t2 ≤ pos = ⌊r / S⌋:
//   score[t2] = q_r·k_u(t2)·scale,  w = softmax(score) over t2 ≤ pos,  out[j·C + h·hs + i] = Σ_t2 w[t2]·v_u(t2)[i].
//
// Threads: one workgroup of WG threads (a power of two) per (head, query row) = (workgroup_id.x, workgroup_id.y).
// Thread l computes the scores of keys l, l + WG, … into att[(j·NH + h)·positions + t2] (scratch; positions bounds
// every row's prefix); the max and the sum are reduced with kernels/_reduce.wgsl; then the head's hs output channels
// are weighted sums over the prefix, read back from att: with hs < WG, WG / hs threads per channel split the
// positions; otherwise thread l computes channels l, l + WG, ….
struct Params {
  out_base: u32,
  att_base: u32,
  inp_base: u32,
  row: u32,
  samples: u32,
  positions: u32,
  C: u32,
  NH: u32,
  scale: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read_write> att: array<f32>;
@group(0) @binding(3) var<storage, read> inp: array<f32>;

override WG: u32 = 128;

@compute @workgroup_size(WG)
fn attention_decode(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let h = wid.x;
  let j = wid.y;
  let r = p.row + j;
  let S = p.samples;
  let hs = p.C / p.NH;
  let C3 = 3u * p.C;
  let n = r / S + 1u;
  let first_key = p.inp_base + (r % S) * C3 + h * hs; // row u(0), head h
  let key_stride = S * C3;
  let q = p.inp_base + r * C3 + h * hs;
  let weights = p.att_base + (j * p.NH + h) * p.positions;
  var mx = -3.0e38;
  for (var t2 = lid; t2 < n; t2 += WG) {
    let k = first_key + t2 * key_stride + p.C;
    var dot = 0.0;
    for (var i = 0u; i < hs; i++) {
      dot += inp[q + i] * inp[k + i];
    }
    let score = dot * p.scale;
    att[weights + t2] = score;
    mx = max(mx, score);
  }
  mx = workgroup_max(lid, mx);
  var sum = 0.0;
  for (var t2 = lid; t2 < n; t2 += WG) {
    let e = exp(att[weights + t2] - mx);
    att[weights + t2] = e;
    sum += e;
  }
  let inv = 1.0 / workgroup_sum(lid, sum);
  // The exponentials written by other threads must be visible before they are read back.
  storageBarrier();
  let first_value = first_key + 2u * p.C;
  if (hs >= WG) {
    for (var i = lid; i < hs; i += WG) {
      var acc = 0.0;
      for (var t2 = 0u; t2 < n; t2++) {
        acc += att[weights + t2] * inp[first_value + t2 * key_stride + i];
      }
      out[p.out_base + j * p.C + h * hs + i] = acc * inv;
    }
    return;
  }
  // A head narrower than the workgroup: G = WG / hs groups of hs threads, group g summing the positions t2 ≡ g
  // (mod G) of channel i (a long prefix is G chains, not one); then the G partial sums of each channel, in g order.
  let groups = WG / hs;
  let g = lid / hs;
  let i = lid % hs;
  var acc = 0.0;
  if (g < groups) {
    for (var t2 = g; t2 < n; t2 += groups) {
      acc += att[weights + t2] * inp[first_value + t2 * key_stride + i];
    }
  }
  red[lid] = acc;
  workgroupBarrier();
  if (lid < hs) {
    var total = 0.0;
    for (var k = 0u; k < groups; k++) {
      total += red[k * hs + lid];
    }
    out[p.out_base + j * p.C + h * hs + lid] = total * inv;
  }
}
