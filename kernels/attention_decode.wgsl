// attention_decode: causal attention of the single query at position pos over positions 0..pos (one decode step
// with a KV cache). inp holds the qkv rows (3C each) of positions 0..pos: the query of head h is
// inp[pos·3C + h·hs …], its keys inp[t2·3C + C + h·hs …], its values inp[t2·3C + 2C + h·hs …], hs = C / NH.
//   score[t2] = q·k[t2]·scale,  w = softmax(score) over t2 ≤ pos,  out[h·hs + i] = Σ_t2 w[t2]·v[t2][i].
//
// Threads: one workgroup of WG threads (a power of two) per head, head = workgroup_id.x. Thread l computes the
// scores of keys l, l + WG, … into att[h·(pos+1) + t2] (scratch); the max and the sum are reduced with
// kernels/_reduce.wgsl;
// then thread l computes output channels l, l + WG, … of the head, reading every weight back from att.
struct Params {
  out_base: u32,
  att_base: u32,
  inp_base: u32,
  pos: u32,
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
  if (h >= p.NH) {
    return;
  }
  let hs = p.C / p.NH;
  let C3 = 3u * p.C;
  let n = p.pos + 1u;
  let q = p.inp_base + p.pos * C3 + h * hs;
  let row = p.att_base + h * n;
  var mx = -3.0e38;
  for (var t2 = lid; t2 < n; t2 += WG) {
    let k = p.inp_base + t2 * C3 + p.C + h * hs;
    var dot = 0.0;
    for (var i = 0u; i < hs; i++) {
      dot += inp[q + i] * inp[k + i];
    }
    let score = dot * p.scale;
    att[row + t2] = score;
    mx = max(mx, score);
  }
  mx = workgroup_max(lid, mx);
  var sum = 0.0;
  for (var t2 = lid; t2 < n; t2 += WG) {
    let e = exp(att[row + t2] - mx);
    att[row + t2] = e;
    sum += e;
  }
  let inv = 1.0 / workgroup_sum(lid, sum);
  // The exponentials written by other threads must be visible before they are read back.
  storageBarrier();
  for (var i = lid; i < hs; i += WG) {
    var acc = 0.0;
    for (var t2 = 0u; t2 < n; t2++) {
      acc += att[row + t2] * inp[p.inp_base + t2 * C3 + 2u * p.C + h * hs + i];
    }
    out[p.out_base + h * hs + i] = acc * inv;
  }
}
