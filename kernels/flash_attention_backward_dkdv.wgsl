// flash_attention_backward_dkdv: the key and value gradients of causal attention, FlashAttention-2's backward
// parallel over key blocks, without the T×T matrices. For one (batch, head) and key t2, with the probabilities
// recomputed from the forward's lse, P[t,t2] = exp(q[t]·k[t2]·scale - lse[t]), dP[t,t2] = dout[t]·v[t2] and
// dS = P∘(dP - D[t]), D from kernels/flash_attention_backward_delta.wgsl:
//   dv[t2] = Σ_{t ≥ t2} P[t,t2]·dout[t],   dk[t2] = scale · Σ_{t ≥ t2} dS[t,t2]·q[t],
// written into the key and value channels of dinp (B,T,3C) (kernels/flash_attention_backward_dq.wgsl writes the
// queries'). A key block visits the query blocks from the one holding its first key to the last, in order (earlier
// queries see none of its keys), so the sums are reproducible.
//
// Threads: NT = TX·BC/4 per workgroup, one workgroup per (key block, batch·head) = (workgroup_id.x,
// workgroup_id.y), the latter b·NH + h; block 0 has the most query blocks and starts first. Thread l = TX·g + x
// (kernels/_flash.wgsl) owns keys 4g … 4g+3 of the block (the lanes of its vec4 values) and
//   - in the score step, queries x + TX·j (j < KPT = BR/TX) of the query block: Sᵀ = K·Qᵀ and dPᵀ = V·dOᵀ
//     together, per channel group 4 K, 4 V, KPT Q and KPT dO vec4 loads for 32·KPT multiply-adds, then P and dS in
//     registers;
//   - in the accumulation step dV += Pᵀ·dO and dK += dSᵀ·Q together, channel groups x + TX·k (k < CPT) of both: per
//     query one P and one dS vec4, CPT dO and CPT Q vec4 loads for 32·CPT multiply-adds, dv and dk in registers.
// Workgroup memory (vec4): K (times scale·log2(e), so that P = exp2(S - lse·log2(e))) and V of the key block, key
// 4g + i at slot i·KG + g, rows padded to ROW = HS4 + 1; Q and dout of the query block (BR × ROW); Ps[t·PR + g] and
// dSs[t·PR + g], P and dS of keys 4g … 4g+3 at query t (PR = BC/4 + 1). Three barriers per query block: Q, dO
// staged; P, dS complete; the accumulation done with them. layers/flash_attention.ts picks BC, BR.
// Keys per workgroup (a multiple of 4 up to 64), queries per block (TX, 2·TX, 4·TX or 8·TX, at most 64), head
// size / 4 (≤ 32); TX (threads per row group) is in kernels/_flash.wgsl.
override BC: u32 = 32u;
override BR: u32 = 32u;
override HS4: u32 = 16u;
override ROW: u32 = HS4 + 1u;
override KG: u32 = BC / 4u;
override PR: u32 = KG + 1u;
override NT: u32 = TX * KG;
override KPT: u32 = BR / TX;
override CPT: u32 = (HS4 + TX - 1u) / TX;

const LOG2E: f32 = 1.4426950408889634;

var<workgroup> Ks: array<vec4f, BC * ROW>;
var<workgroup> Vs: array<vec4f, BC * ROW>;
var<workgroup> Qs: array<vec4f, BR * ROW>;
var<workgroup> dOs: array<vec4f, BR * ROW>;
var<workgroup> Ps: array<vec4f, BR * PR>;
var<workgroup> dSs: array<vec4f, BR * PR>;

// Sᵀ (base 2) and dPᵀ of keys 4g … 4g+3 against queries x + TX·j of the block, in s and dp.
struct Products {
  s: Scores,
  dp: Scores,
}

fn products(g: u32, x: u32) -> Products {
  var s = Scores();
  var dp = Scores();
  for (var d = 0u; d < HS4; d++) {
    let a = g * ROW + d;
    let k = Rows(Ks[a], Ks[a + KG * ROW], Ks[a + 2u * KG * ROW], Ks[a + 3u * KG * ROW]);
    let v = Rows(Vs[a], Vs[a + KG * ROW], Vs[a + 2u * KG * ROW], Vs[a + 3u * KG * ROW]);
    let t = x * ROW + d;
    s.s0 = score4(s.s0, k, Qs[t]);
    dp.s0 = score4(dp.s0, v, dOs[t]);
    if (KPT > 1u) {
      s.s1 = score4(s.s1, k, Qs[t + TX * ROW]);
      dp.s1 = score4(dp.s1, v, dOs[t + TX * ROW]);
    }
    if (KPT > 2u) {
      s.s2 = score4(s.s2, k, Qs[t + 2u * TX * ROW]);
      dp.s2 = score4(dp.s2, v, dOs[t + 2u * TX * ROW]);
      s.s3 = score4(s.s3, k, Qs[t + 3u * TX * ROW]);
      dp.s3 = score4(dp.s3, v, dOs[t + 3u * TX * ROW]);
    }
    if (KPT > 4u) {
      s.s4 = score4(s.s4, k, Qs[t + 4u * TX * ROW]);
      dp.s4 = score4(dp.s4, v, dOs[t + 4u * TX * ROW]);
      s.s5 = score4(s.s5, k, Qs[t + 5u * TX * ROW]);
      dp.s5 = score4(dp.s5, v, dOs[t + 5u * TX * ROW]);
      s.s6 = score4(s.s6, k, Qs[t + 6u * TX * ROW]);
      dp.s6 = score4(dp.s6, v, dOs[t + 6u * TX * ROW]);
      s.s7 = score4(s.s7, k, Qs[t + 7u * TX * ROW]);
      dp.s7 = score4(dp.s7, v, dOs[t + 7u * TX * ROW]);
    }
  }
  return Products(s, dp);
}

// P and dS of keys `keys` at query tq (slot c of Ps, dSs): P = 2^(s - lse·log2(e)) where key ≤ tq < T (else 0),
// dS = P·(dp - D); written to slot c.
fn store_probs(c: u32, s: vec4f, dp: vec4f, tq: u32, keys: vec4u, bh: u32) {
  var prob = vec4f(0.0);
  var ds = vec4f(0.0);
  if (tq < p.T) {
    let at = bh * p.T + tq;
    prob = select(vec4f(0.0), exp2(s - lse[p.lse_base + at] * LOG2E), keys <= vec4u(tq));
    ds = prob * (dp - delta[p.delta_base + at]);
  }
  Ps[c] = prob;
  dSs[c] = ds;
}

@compute @workgroup_size(NT)
fn flash_attention_backward_dkdv(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let g = lid / TX;
  let x = lid % TX;
  let k0 = wid.x * BC;
  let bh = wid.y;
  let C3 = 3u * p.C;
  let head = head_start(p.inp_base, bh, C3);
  let dhead = head_start(p.dout_base, bh, p.C);
  let kscale = p.scale * LOG2E;
  for (var i = lid; i < BC * HS4; i += NT) {
    let r = i / HS4;
    let d = i % HS4;
    var kv = vec4f(0.0);
    var vv = vec4f(0.0);
    if (k0 + r < p.T) {
      kv = load_inp(head + (k0 + r) * C3 + p.C + 4u * d) * kscale;
      vv = load_inp(head + (k0 + r) * C3 + 2u * p.C + 4u * d);
    }
    let at = ((r % 4u) * KG + r / 4u) * ROW + d;
    Ks[at] = kv;
    Vs[at] = vv;
  }
  let keys = vec4u(k0 + 4u * g) + vec4u(0u, 1u, 2u, 3u);
  let v0 = group_of(x, 0u);
  let v1 = group_of(x, 1u);
  let v2 = group_of(x, 2u);
  let v3 = group_of(x, 3u);
  var dv = Block();
  var dk = Block();
  let nqb = (p.T + BR - 1u) / BR;
  for (var i = k0 / BR; i < nqb; i++) {
    let t0 = i * BR;
    workgroupBarrier(); // the previous block's accumulation is done with Qs, dOs, Ps, dSs (and Ks, Vs are complete)
    for (var e = lid; e < BR * HS4; e += NT) {
      let t = e / HS4;
      let d = e % HS4;
      var qv = vec4f(0.0);
      var ov = vec4f(0.0);
      if (t0 + t < p.T) {
        qv = load_inp(head + (t0 + t) * C3 + 4u * d);
        ov = load_dout(dhead + (t0 + t) * p.C + 4u * d);
      }
      Qs[t * ROW + d] = qv;
      dOs[t * ROW + d] = ov;
    }
    workgroupBarrier();
    let pr = products(g, x);
    let tq = t0 + x;
    let c = x * PR + g;
    store_probs(c, pr.s.s0, pr.dp.s0, tq, keys, bh);
    if (KPT > 1u) {
      store_probs(c + TX * PR, pr.s.s1, pr.dp.s1, tq + TX, keys, bh);
    }
    if (KPT > 2u) {
      store_probs(c + 2u * TX * PR, pr.s.s2, pr.dp.s2, tq + 2u * TX, keys, bh);
      store_probs(c + 3u * TX * PR, pr.s.s3, pr.dp.s3, tq + 3u * TX, keys, bh);
    }
    if (KPT > 4u) {
      store_probs(c + 4u * TX * PR, pr.s.s4, pr.dp.s4, tq + 4u * TX, keys, bh);
      store_probs(c + 5u * TX * PR, pr.s.s5, pr.dp.s5, tq + 5u * TX, keys, bh);
      store_probs(c + 6u * TX * PR, pr.s.s6, pr.dp.s6, tq + 6u * TX, keys, bh);
      store_probs(c + 7u * TX * PR, pr.s.s7, pr.dp.s7, tq + 7u * TX, keys, bh);
    }
    workgroupBarrier();
    for (var t = 0u; t < BR; t++) {
      let at = t * ROW;
      let w = t * PR + g;
      block_add(&dv, Ps[w], dOs[at + v0], dOs[at + v1], dOs[at + v2], dOs[at + v3]);
      block_add(&dk, dSs[w], Qs[at + v0], Qs[at + v1], Qs[at + v2], Qs[at + v3]);
    }
  }
  let at = head_start(p.dinp_base, bh, C3);
  store_block(at + p.C, C3, keys, x, dk, vec4f(p.scale));
  store_block(at + 2u * p.C, C3, keys, x, dv, vec4f(1.0));
}
