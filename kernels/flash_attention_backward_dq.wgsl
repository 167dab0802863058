// flash_attention_backward_dq: the query gradients of causal attention, FlashAttention-2's backward parallel over
// query blocks, without the T×T matrices. For one (batch, head) and query t, with the probabilities recomputed from
// the forward's lse, P[t,t2] = exp(q[t]·k[t2]·scale - lse[t]), dP[t,t2] = dout[t]·v[t2] and
// dS = P∘(dP - D[t]), D from kernels/flash_attention_backward_delta.wgsl:
//   dq[t] = scale · Σ_{t2 ≤ t} dS[t,t2]·k[t2],
// written into the query channels of dinp (B,T,3C) (kernels/flash_attention_backward_dkdv.wgsl writes the others).
// A query block visits the key blocks that start at or before its last row, in order, so the sums are reproducible.
//
// Threads: NT = TX·BR/4 per workgroup, one workgroup per (query block, batch·head): query block = last -
// workgroup_id.x (the longest first), batch·head = workgroup_id.y (b·NH + h). Thread l = TX·g + x
// (kernels/_flash.wgsl) owns query rows 4g … 4g+3 of the block (the lanes of its vec4 row values: lse, D) and
//   - in the score step, keys x + TX·j (j < KPT = BC/TX) of the key block: S = Q·Kᵀ and dP = dO·Vᵀ together, per
//     channel group 4 Q, 4 dO, KPT K and KPT V vec4 loads for 32·KPT multiply-adds, then P and dS in registers;
//   - in the accumulation step dQ += dS·K, channel groups x + TX·k (k < CPT) of dq: per key one dS vec4 and CPT K
//     vec4 loads for 16·CPT multiply-adds, dq in registers (a Block).
// Workgroup memory (vec4): Q (times scale·log2(e), so that P = exp2(S - lse·log2(e))) and dout of the block, row
// 4g + i at slot i·RG + g, rows padded to ROW = HS4 + 1; K and V of the key block (BC × ROW); Ss[c·PR + g], dS of
// rows 4g … 4g+3 at key c (PR = BR/4 + 1). Three barriers per key block: K, V staged; dS complete; the accumulation
// done with K and dS. layers/flash_attention.ts picks BR, BC.
// Query rows per workgroup (a multiple of 4 up to 64), keys per block (TX, 2·TX, 4·TX or 8·TX, at most 64), head
// size / 4 (≤ 32); TX (threads per row group) is in kernels/_flash.wgsl.
override BR: u32 = 32u;
override BC: u32 = 32u;
override HS4: u32 = 16u;
override ROW: u32 = HS4 + 1u;
override RG: u32 = BR / 4u;
override PR: u32 = RG + 1u;
override NT: u32 = TX * RG;
override KPT: u32 = BC / TX;
override CPT: u32 = (HS4 + TX - 1u) / TX;

const LOG2E: f32 = 1.4426950408889634;

var<workgroup> Qs: array<vec4f, BR * ROW>;
var<workgroup> dOs: array<vec4f, BR * ROW>;
var<workgroup> Ks: array<vec4f, BC * ROW>;
var<workgroup> Vs: array<vec4f, BC * ROW>;
var<workgroup> Ss: array<vec4f, BC * PR>;

// S (base 2) and dP of rows 4g … 4g+3 against keys x + TX·j of the block, in s and dp.
struct Products {
  s: Scores,
  dp: Scores,
}

fn products(g: u32, x: u32) -> Products {
  var s = Scores();
  var dp = Scores();
  for (var d = 0u; d < HS4; d++) {
    let a = g * ROW + d;
    let q = Rows(Qs[a], Qs[a + RG * ROW], Qs[a + 2u * RG * ROW], Qs[a + 3u * RG * ROW]);
    let o = Rows(dOs[a], dOs[a + RG * ROW], dOs[a + 2u * RG * ROW], dOs[a + 3u * RG * ROW]);
    let k = x * ROW + d;
    s.s0 = score4(s.s0, q, Ks[k]);
    dp.s0 = score4(dp.s0, o, Vs[k]);
    if (KPT > 1u) {
      s.s1 = score4(s.s1, q, Ks[k + TX * ROW]);
      dp.s1 = score4(dp.s1, o, Vs[k + TX * ROW]);
    }
    if (KPT > 2u) {
      s.s2 = score4(s.s2, q, Ks[k + 2u * TX * ROW]);
      dp.s2 = score4(dp.s2, o, Vs[k + 2u * TX * ROW]);
      s.s3 = score4(s.s3, q, Ks[k + 3u * TX * ROW]);
      dp.s3 = score4(dp.s3, o, Vs[k + 3u * TX * ROW]);
    }
    if (KPT > 4u) {
      s.s4 = score4(s.s4, q, Ks[k + 4u * TX * ROW]);
      dp.s4 = score4(dp.s4, o, Vs[k + 4u * TX * ROW]);
      s.s5 = score4(s.s5, q, Ks[k + 5u * TX * ROW]);
      dp.s5 = score4(dp.s5, o, Vs[k + 5u * TX * ROW]);
      s.s6 = score4(s.s6, q, Ks[k + 6u * TX * ROW]);
      dp.s6 = score4(dp.s6, o, Vs[k + 6u * TX * ROW]);
      s.s7 = score4(s.s7, q, Ks[k + 7u * TX * ROW]);
      dp.s7 = score4(dp.s7, o, Vs[k + 7u * TX * ROW]);
    }
  }
  return Products(s, dp);
}

// dS of key `key` for rows `rows`: P = 2^(s - lrow) where key ≤ row < T (else 0), times dp - D.
fn dscore(s: vec4f, dp: vec4f, key: u32, rows: vec4u, lrow: vec4f, drow: vec4f) -> vec4f {
  let ok = (vec4u(key) <= rows) & (rows < vec4u(p.T));
  return select(vec4f(0.0), exp2(s - lrow), ok) * (dp - drow);
}

@compute @workgroup_size(NT)
fn flash_attention_backward_dq(@builtin(local_invocation_index) lid: u32, q: QueryBlock) {
  let bh = q.wid.y;
  let C3 = 3u * p.C;
  let head = head_start(p.inp_base, bh, C3);
  let dhead = head_start(p.dout_base, bh, p.C);
  let g = lid / TX;
  let x = lid % TX;
  let q0 = first_query(q);
  let qscale = p.scale * LOG2E;
  for (var i = lid; i < BR * HS4; i += NT) {
    let r = i / HS4;
    let d = i % HS4;
    var qv = vec4f(0.0);
    var dv = vec4f(0.0);
    if (q0 + r < p.T) {
      qv = load_inp(head + (q0 + r) * C3 + 4u * d) * qscale;
      dv = load_dout(dhead + (q0 + r) * p.C + 4u * d);
    }
    let at = ((r % 4u) * RG + r / 4u) * ROW + d;
    Qs[at] = qv;
    dOs[at] = dv;
  }
  let rows = vec4u(q0 + 4u * g) + vec4u(0u, 1u, 2u, 3u);
  var lrow = vec4f(0.0);
  var drow = vec4f(0.0);
  for (var i = 0u; i < 4u; i++) {
    if (rows[i] < p.T) {
      lrow[i] = lse[p.lse_base + bh * p.T + rows[i]] * LOG2E;
      drow[i] = delta[p.delta_base + bh * p.T + rows[i]];
    }
  }
  let v0 = group_of(x, 0u);
  let v1 = group_of(x, 1u);
  let v2 = group_of(x, 2u);
  let v3 = group_of(x, 3u);
  var dq = Block();
  let nkb = (min(p.T, q0 + BR) + BC - 1u) / BC;
  for (var j = 0u; j < nkb; j++) {
    let k0 = j * BC;
    workgroupBarrier(); // the previous block's accumulation step is done with Ks and Ss (and Qs, dOs are complete)
    for (var i = lid; i < BC * HS4; i += NT) {
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
    let pr = products(g, x);
    let key = k0 + x;
    let c = x * PR + g;
    Ss[c] = dscore(pr.s.s0, pr.dp.s0, key, rows, lrow, drow);
    if (KPT > 1u) {
      Ss[c + TX * PR] = dscore(pr.s.s1, pr.dp.s1, key + TX, rows, lrow, drow);
    }
    if (KPT > 2u) {
      Ss[c + 2u * TX * PR] = dscore(pr.s.s2, pr.dp.s2, key + 2u * TX, rows, lrow, drow);
      Ss[c + 3u * TX * PR] = dscore(pr.s.s3, pr.dp.s3, key + 3u * TX, rows, lrow, drow);
    }
    if (KPT > 4u) {
      Ss[c + 4u * TX * PR] = dscore(pr.s.s4, pr.dp.s4, key + 4u * TX, rows, lrow, drow);
      Ss[c + 5u * TX * PR] = dscore(pr.s.s5, pr.dp.s5, key + 5u * TX, rows, lrow, drow);
      Ss[c + 6u * TX * PR] = dscore(pr.s.s6, pr.dp.s6, key + 6u * TX, rows, lrow, drow);
      Ss[c + 7u * TX * PR] = dscore(pr.s.s7, pr.dp.s7, key + 7u * TX, rows, lrow, drow);
    }
    workgroupBarrier();
    for (var t = 0u; t < BC; t++) {
      let at = t * ROW;
      block_add(&dq, Ss[t * PR + g], Ks[at + v0], Ks[at + v1], Ks[at + v2], Ks[at + v3]);
    }
  }
  store_block(head_start(p.dinp_base, bh, C3), C3, rows, x, dq, vec4f(p.scale));
}
