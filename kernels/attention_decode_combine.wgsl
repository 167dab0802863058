// attention_decode_combine: merges the chunks of attention_decode.wgsl over a long prefix. For query row j (of the
// dispatch) and head h, chunk c left m_c (its max score), s_c (its sum of e^(score − m_c)) and acc_c[i] (its
// Σ e^(score − m_c)·v[i], i < hs) at att[partials + ((j·NH + h)·Z + c)·(hs + 2) + (0, 1, 2 + i)]; then
//   out[j·C + h·hs + i] = Σ_c acc_c[i]·e^(m_c − M) / Σ_c s_c·e^(m_c − M),  M = max_c m_c,
// the chunks taken in order (an empty chunk, m_c = -3e38 and s_c = 0, adds nothing).
//
// Threads: one workgroup of WG threads per (head, query row) = workgroup_id (x, y); thread i < hs computes channel i
// (and i + WG, … for heads wider than WG), each thread walking the Z chunks itself (Z is small: prefix / chunk).
struct Params {
  out_base: u32,
  att_base: u32,
  chunks: u32,
  partials: u32,
  C: u32,
  NH: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> att: array<f32>;

override WG: u32 = 64;

@compute @workgroup_size(WG)
fn attention_decode_combine(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let h = wid.x;
  let j = wid.y;
  let hs = p.C / p.NH;
  let first = p.att_base + p.partials + (j * p.NH + h) * p.chunks * (hs + 2u);
  var mx = -3.0e38;
  for (var c = 0u; c < p.chunks; c++) {
    mx = max(mx, att[first + c * (hs + 2u)]);
  }
  var total = 0.0;
  for (var c = 0u; c < p.chunks; c++) {
    let at = first + c * (hs + 2u);
    total += att[at + 1u] * exp(att[at] - mx);
  }
  for (var i = lid; i < hs; i += WG) {
    var acc = 0.0;
    for (var c = 0u; c < p.chunks; c++) {
      let at = first + c * (hs + 2u);
      acc += att[at + 2u + i] * exp(att[at] - mx);
    }
    out[p.out_base + j * p.C + h * hs + i] = acc / total;
  }
}
