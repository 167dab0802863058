// attention_decode: causal attention of query rows over the rows before them (decoding with a KV cache; see
// layers/attention_decode.ts). The rows of inp (3C each: q, k, v) interleave S = samples sequences position-major:
// row r is position ⌊r / S⌋ of sample r mod S. For query row r = row + j, head h, hs = C / NH, and its sample's rows
// u(t2) = t2·S + (r mod S), t2 ≤ pos = ⌊r / S⌋:
//   score[t2] = q_r·k_u(t2)·scale,  w = softmax(score) over t2 ≤ pos,  out[j·C + h·hs + i] = Σ_t2 w[t2]·v_u(t2)[i].
//
// Threads: one workgroup of WG threads (a power of two) per (head, query row, chunk) = workgroup_id (x, y, z). Chunk
// c covers the positions t2 in [c·chunk, min(n, (c + 1)·chunk)) of the row's prefix of n = pos + 1 positions (one
// chunk unless the launcher splits a long prefix: num_workgroups.z chunks). Thread l computes the scores of keys
// l, l + WG, … of the chunk into att[(j·NH + h)·positions + t2] (scratch; positions bounds every row's prefix); the
// max and the sum are reduced with kernels/_reduce.wgsl; then the head's hs output channels are weighted sums over
// the chunk, read back from att: with hs < WG, WG / hs threads per channel split the positions; otherwise thread l
// computes channels l, l + WG, …. With one chunk the normalized result goes to out; with several, chunk c writes
// its max m, its exponential sum s and its unnormalized sums acc[0 … hs) to att[partials + ((j·NH + h)·Z + c)·(hs + 2)
// + …] (m, s, then acc; an empty chunk writes m = -3e38, s = 0, acc = 0), and attention_decode_combine.wgsl merges
// the chunks: out = Σ_c acc_c·e^(m_c − M) / Σ_c s_c·e^(m_c − M), M = max_c m_c.
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
  chunk: u32,
  partials: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read_write> att: array<f32>;
@group(0) @binding(3) var<storage, read> inp: array<f32>;

override WG: u32 = 128;

@compute @workgroup_size(WG)
fn attention_decode(
  @builtin(local_invocation_index) lid: u32,
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let h = wid.x;
  let j = wid.y;
  let chunks = nwg.z;
  let r = p.row + j;
  let S = p.samples;
  let hs = p.C / p.NH;
  let C3 = 3u * p.C;
  let n = r / S + 1u;
  let first_key = p.inp_base + (r % S) * C3 + h * hs; // row u(0), head h
  let key_stride = S * C3;
  let q = p.inp_base + r * C3 + h * hs;
  let weights = p.att_base + (j * p.NH + h) * p.positions;
  let begin = wid.z * p.chunk;
  let end = min(n, begin + p.chunk);
  var mx = -3.0e38;
  for (var t2 = begin + lid; t2 < end; t2 += WG) {
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
  for (var t2 = begin + lid; t2 < end; t2 += WG) {
    let e = exp(att[weights + t2] - mx);
    att[weights + t2] = e;
    sum += e;
  }
  let total = workgroup_sum(lid, sum);
  // One chunk: normalized here; several: unnormalized, with this chunk's max and sum for the combine kernel.
  let inv = select(1.0, 1.0 / total, chunks == 1u);
  let partial = p.att_base + p.partials + ((j * p.NH + h) * chunks + wid.z) * (hs + 2u);
  if (chunks > 1u && lid == 0u) {
    att[partial] = mx;
    att[partial + 1u] = total;
  }
  // The exponentials written by other threads must be visible before they are read back.
  storageBarrier();
  let first_value = first_key + 2u * p.C;
  if (hs >= WG) {
    for (var i = lid; i < hs; i += WG) {
      var acc = 0.0;
      for (var t2 = begin; t2 < end; t2++) {
        acc += att[weights + t2] * inp[first_value + t2 * key_stride + i];
      }
      write_output(chunks, partial, j * p.C + h * hs + i, i, acc * inv);
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
    for (var t2 = begin + g; t2 < end; t2 += groups) {
      acc += att[weights + t2] * inp[first_value + t2 * key_stride + i];
    }
  }
  red[lid] = acc;
  workgroupBarrier();
  if (lid < hs) {
    var channel = 0.0;
    for (var k = 0u; k < groups; k++) {
      channel += red[k * hs + lid];
    }
    write_output(chunks, partial, j * p.C + h * hs + lid, lid, channel * inv);
  }
}

// Output channel i of the row's head: to out (offset `at` inside it) when there is one chunk, else into the chunk's
// partial sums.
fn write_output(chunks: u32, partial: u32, at: u32, i: u32, value: f32) {
  if (chunks == 1u) {
    out[p.out_base + at] = value;
  } else {
    att[partial + 2u + i] = value;
  }
}
