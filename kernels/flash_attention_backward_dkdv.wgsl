// flash_attention_backward_dkdv: the key and value gradients of causal attention, FlashAttention-2's backward
// parallel over key blocks, without the T×T matrices. For one (batch, head) and key t2, with the probabilities
// recomputed from the forward's lse, P[t,t2] = exp(q[t]·k[t2]·scale - lse[t]), dP[t,t2] = dout[t]·v[t2] and
// dS = P∘(dP - D[t]), D from kernels/flash_attention_backward_delta.wgsl:
//   dv[t2] = Σ_{t ≥ t2} P[t,t2]·dout[t],   dk[t2] = scale · Σ_{t ≥ t2} dS[t,t2]·q[t],
// written into the key and value channels of dinp (B,T,3C) (kernels/flash_attention_backward_dq.wgsl writes the
// queries'). A key block visits the query blocks from the one holding its first key to the last, in order (earlier
// queries see none of its keys), so the sums are reproducible.
//
// Threads: 4·BC per workgroup, one workgroup per (key block, batch·head) = (workgroup_id.x, workgroup_id.y), the
// latter b·NH + h. Thread l = 16·g + x owns keys 4g … 4g+3 of the block (the lanes of its vec4 values: P, dS) and
//   - in the score step, query x of the query block and, when BR = 32, query x + 16 (those < BR);
//   - in the accumulation steps, channels 4x … 4x+3 and 64 + 4x … 64 + 4x+3 of dv and dk (those < hs): two Rows4 of
//     accumulators (kernels/_flash.wgsl), dv and dk.
// Workgroup memory: K and V of the key block (BC × HS4 vec4, row-major: read as broadcasts), Q and dout of the query
// block (BR rows padded to ROW = HS4 + 1 vec4 against bank conflicts, since the score step reads them down a
// column), and Ps[t·BC/4 + g], P of keys 4g … 4g+3 at query t as one vec4, overwritten by dS once dv has used it.
// layers/flash_attention.ts picks BC, BR.
// Keys per workgroup (4, 8, 16, 32 or 64), queries per block (8, 16 or 32), head size / 4 (at most 32).
override BC: u32 = 32u;
override BR: u32 = 16u;
override HS4: u32 = 16u;
override ROW: u32 = HS4 + 1u;
override KG: u32 = BC / 4u;

var<workgroup> Ks: array<vec4f, BC * HS4>;
var<workgroup> Vs: array<vec4f, BC * HS4>;
var<workgroup> Qs: array<vec4f, BR * ROW>;
var<workgroup> dOs: array<vec4f, BR * ROW>;
var<workgroup> Ps: array<vec4f, BR * KG>;

// P and dS of keys 4g … 4g+3 at query slot t of the block (global query tq), as two vec4 over the keys.
struct Probs {
  prob: vec4f,
  ds: vec4f,
}

fn probs(g: u32, t: u32, tq: u32, keys: vec4u, bh: u32) -> Probs {
  var s = vec4f(0.0);
  var dp = vec4f(0.0);
  for (var d = 0u; d < HS4; d++) {
    let q = Qs[t * ROW + d];
    let o = dOs[t * ROW + d];
    let r = 4u * g * HS4 + d;
    s += vec4f(dot(Ks[r], q), dot(Ks[r + HS4], q), dot(Ks[r + 2u * HS4], q), dot(Ks[r + 3u * HS4], q));
    dp += vec4f(dot(Vs[r], o), dot(Vs[r + HS4], o), dot(Vs[r + 2u * HS4], o), dot(Vs[r + 3u * HS4], o));
  }
  var out = Probs(vec4f(0.0), vec4f(0.0));
  if (tq < p.T) {
    let ok = keys <= vec4u(tq);
    out.prob = select(vec4f(0.0), exp(s * p.scale - lse[p.lse_base + bh * p.T + tq]), ok);
    out.ds = out.prob * (dp - delta[p.delta_base + bh * p.T + tq]);
  }
  return out;
}

@compute @workgroup_size(4u * BC)
fn flash_attention_backward_dkdv(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let g = lid / 16u;
  let x = lid % 16u;
  let k0 = wid.x * BC;
  let bh = wid.y;
  let C3 = 3u * p.C;
  let head = head_start(p.inp_base, bh, C3);
  let dhead = head_start(p.dout_base, bh, p.C);
  for (var i = lid; i < BC * HS4; i += 4u * BC) {
    let c = k0 + i / HS4;
    var kv = vec4f(0.0);
    var vv = vec4f(0.0);
    if (c < p.T) {
      kv = load_inp(head + c * C3 + p.C + 4u * (i % HS4));
      vv = load_inp(head + c * C3 + 2u * p.C + 4u * (i % HS4));
    }
    Ks[i] = kv;
    Vs[i] = vv;
  }
  let keys = vec4u(k0 + 4u * g) + vec4u(0u, 1u, 2u, 3u);
  // Channel groups of this thread, clamped so that reads stay in bounds (results for channels ≥ hs are dropped).
  let da = min(x, HS4 - 1u);
  let db = min(x + 16u, HS4 - 1u);
  var dv = Rows4();
  var dk = Rows4();
  let nqb = (p.T + BR - 1u) / BR;
  for (var i = k0 / BR; i < nqb; i++) {
    let t0 = i * BR;
    workgroupBarrier(); // the previous block's dk step is done with Qs and Ps (and Ks, Vs are complete)
    for (var e = lid; e < BR * HS4; e += 4u * BC) {
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
    var pa = Probs(vec4f(0.0), vec4f(0.0));
    var pb = Probs(vec4f(0.0), vec4f(0.0));
    if (x < BR) {
      pa = probs(g, x, t0 + x, keys, bh);
      Ps[x * KG + g] = pa.prob;
    }
    if (BR > 16u && x + 16u < BR) {
      pb = probs(g, x + 16u, t0 + x + 16u, keys, bh);
      Ps[(x + 16u) * KG + g] = pb.prob;
    }
    workgroupBarrier();
    for (var t = 0u; t < BR; t++) {
      rows4_add(&dv, Ps[t * KG + g], dOs[t * ROW + da], dOs[t * ROW + db]);
    }
    workgroupBarrier(); // every thread is done with P
    if (x < BR) {
      Ps[x * KG + g] = pa.ds;
    }
    if (BR > 16u && x + 16u < BR) {
      Ps[(x + 16u) * KG + g] = pb.ds;
    }
    workgroupBarrier();
    for (var t = 0u; t < BR; t++) {
      rows4_add(&dk, Ps[t * KG + g], Qs[t * ROW + da], Qs[t * ROW + db]);
    }
  }
  let at = head_start(p.dinp_base, bh, C3);
  store_rows(at + p.C, C3, keys, x, dk, vec4f(p.scale));
  store_rows(at + 2u * p.C, C3, keys, x, dv, vec4f(1.0));
}
