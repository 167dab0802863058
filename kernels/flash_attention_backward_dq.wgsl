// flash_attention_backward_dq: the query gradients of causal attention, FlashAttention-2's backward parallel over
// query blocks, without the T×T matrices. For one (batch, head) and query t, with the probabilities recomputed from
// the forward's lse, P[t,t2] = exp(q[t]·k[t2]·scale - lse[t]), dP[t,t2] = dout[t]·v[t2] and
// dS = P∘(dP - D[t]), D from kernels/flash_attention_backward_delta.wgsl:
//   dq[t] = scale · Σ_{t2 ≤ t} dS[t,t2]·k[t2],
// written into the query channels of dinp (B,T,3C) (kernels/flash_attention_backward_dkdv.wgsl writes the others).
// A query block visits the key blocks that start at or before its last row, in order, so the sums are reproducible.
//
// Threads: 4·BR per workgroup, one workgroup per (query block, batch·head): query block = last - workgroup_id.x
// (the longest first), batch·head = workgroup_id.y (b·NH + h). Thread l = 16·g + x owns query rows 4g … 4g+3 of
// the block (the lanes of its vec4 row values: lse, D, P, dS) and
//   - in the score step, key x of the key block and, when BC = 32, key x + 16;
//   - in the accumulation step, channels 4x … 4x+3 and 64 + 4x … 64 + 4x+3 of dq (those < hs), in a Rows4 of
//     accumulators (kernels/_flash.wgsl).
// Workgroup memory: Q and dout of the block (BR × HS4 vec4, row-major: read as broadcasts), K and V of the key block
// (BC rows padded to ROW = HS4 + 1 vec4 against bank conflicts, since the score step reads them down a column), and
// Ss[c·BR/4 + g], dS of rows 4g … 4g+3 at key c as one vec4. layers/flash_attention.ts picks BR, BC.
// Query rows per workgroup (4, 8, 16, 32 or 64), keys per block (8, 16 or 32), head size / 4 (at most 32).
override BR: u32 = 32u;
override BC: u32 = 16u;
override HS4: u32 = 16u;
override ROW: u32 = HS4 + 1u;
override RG: u32 = BR / 4u;

var<workgroup> Qs: array<vec4f, BR * HS4>;
var<workgroup> dOs: array<vec4f, BR * HS4>;
var<workgroup> Ks: array<vec4f, BC * ROW>;
var<workgroup> Vs: array<vec4f, BC * ROW>;
var<workgroup> Ss: array<vec4f, BC * RG>;

// dS of rows 4g … 4g+3 at key c of the block (P from the scores, masked by ok; dP from dout and v).
fn dscores(g: u32, c: u32, ok: vec4<bool>, lrow: vec4f, drow: vec4f) -> vec4f {
  var s = vec4f(0.0);
  var dp = vec4f(0.0);
  for (var d = 0u; d < HS4; d++) {
    let k = Ks[c * ROW + d];
    let v = Vs[c * ROW + d];
    let r = 4u * g * HS4 + d;
    s += vec4f(dot(Qs[r], k), dot(Qs[r + HS4], k), dot(Qs[r + 2u * HS4], k), dot(Qs[r + 3u * HS4], k));
    dp += vec4f(dot(dOs[r], v), dot(dOs[r + HS4], v), dot(dOs[r + 2u * HS4], v), dot(dOs[r + 3u * HS4], v));
  }
  let prob = select(vec4f(0.0), exp(s * p.scale - lrow), ok);
  return prob * (dp - drow);
}

@compute @workgroup_size(4u * BR)
fn flash_attention_backward_dq(@builtin(local_invocation_index) lid: u32, q: QueryBlock) {
  let bh = q.wid.y;
  let C3 = 3u * p.C;
  let head = head_start(p.inp_base, bh, C3);
  let dhead = head_start(p.dout_base, bh, p.C);
  let g = lid / 16u;
  let x = lid % 16u;
  let q0 = first_query(q);
  for (var i = lid; i < BR * HS4; i += 4u * BR) {
    let r = q0 + i / HS4;
    var qv = vec4f(0.0);
    var dv = vec4f(0.0);
    if (r < p.T) {
      qv = load_inp(head + r * C3 + 4u * (i % HS4));
      dv = load_dout(dhead + r * p.C + 4u * (i % HS4));
    }
    Qs[i] = qv;
    dOs[i] = dv;
  }
  let rows = vec4u(q0 + 4u * g) + vec4u(0u, 1u, 2u, 3u);
  var lrow = vec4f(0.0);
  var drow = vec4f(0.0);
  for (var i = 0u; i < 4u; i++) {
    if (rows[i] < p.T) {
      lrow[i] = lse[p.lse_base + bh * p.T + rows[i]];
      drow[i] = delta[p.delta_base + bh * p.T + rows[i]];
    }
  }
  // Channel groups of this thread, clamped so that reads stay in bounds (results for channels ≥ hs are dropped).
  let da = min(x, HS4 - 1u);
  let db = min(x + 16u, HS4 - 1u);
  let valid = rows < vec4u(p.T);
  var dq = Rows4();
  let nkb = (min(p.T, q0 + BR) + BC - 1u) / BC;
  for (var j = 0u; j < nkb; j++) {
    let k0 = j * BC;
    workgroupBarrier(); // the previous block's accumulation step is done with Ks and Ss (and Qs, dOs are complete)
    for (var i = lid; i < BC * HS4; i += 4u * BR) {
      let c = i / HS4;
      let d = i % HS4;
      var kv = vec4f(0.0);
      var vv = vec4f(0.0);
      if (k0 + c < p.T) {
        kv = load_inp(head + (k0 + c) * C3 + p.C + 4u * d);
        vv = load_inp(head + (k0 + c) * C3 + 2u * p.C + 4u * d);
      }
      Ks[c * ROW + d] = kv;
      Vs[c * ROW + d] = vv;
    }
    workgroupBarrier();
    if (x < BC) {
      let ok = (vec4u(k0 + x) <= rows) & valid;
      Ss[x * RG + g] = dscores(g, x, ok, lrow, drow);
    }
    if (BC > 16u && x + 16u < BC) {
      let ok = (vec4u(k0 + x + 16u) <= rows) & valid;
      Ss[(x + 16u) * RG + g] = dscores(g, x + 16u, ok, lrow, drow);
    }
    workgroupBarrier();
    for (var c = 0u; c < BC; c++) {
      rows4_add(&dq, Ss[c * RG + g], Ks[c * ROW + da], Ks[c * ROW + db]);
    }
  }
  store_rows(head_start(p.dinp_base, bh, C3), C3, rows, x, dq, vec4f(p.scale));
}
