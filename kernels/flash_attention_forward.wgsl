// flash_attention_forward: causal multi-head attention without the T×T scores (FlashAttention-2's forward). inp
// (B,T,3C) holds each position's queries, keys and values (channels [0,C), [C,2C), [2C,3C); head h owns channels
// h·hs … h·hs + hs - 1 of each, hs = 4·HS4). For each (batch, head) and query row t:
//   out[t] = Σ_{t2 ≤ t} softmax_t2(q[t]·k[t2]·scale)·v[t2],  lse[t] = log Σ_{t2 ≤ t} exp(q[t]·k[t2]·scale),
// lse (B,NH,T) being what the backward pass recomputes the probabilities from. Keys are visited in blocks of BC with
// an online softmax: a running row max m, and the accumulator and the running sum rescaled by 2^(m_old - m_new)
// whenever the max grows (scores in base 2: Q is staged times scale·log2(e), so exp is one exp2). A query block
// visits only the key blocks that start at or before its last row; inside a block, keys t2 > t get probability 0.
//
// Threads: NT = TX·BR/4 per workgroup, one workgroup per (query block, batch·head): query block = last -
// workgroup_id.x (the longest first), batch·head = workgroup_id.y (b·NH + h). Thread l = TX·g + x
// (kernels/_flash.wgsl) owns query rows 4g … 4g+3 of the block, the lanes of its vec4 row values (m, l), and
//   - in the score step S = Q·Kᵀ, keys x + TX·j (j < KPT = BC/TX) of the block: per channel group 4 Q and KPT K
//     vec4 loads for 16·KPT multiply-adds;
//   - in the output step O += P·V, channel groups x + TX·k (k < CPT) of the head: per key one P vec4 (its 4 rows)
//     and CPT V vec4 loads for 16·CPT multiply-adds, O in registers (a Block).
// Its running sums cover only its own keys; the TX threads of a row group add theirs at the end. The row-group max
// and sum (`row_max`, `row_sum`) come from kernels/_flash_rows_workgroup.wgsl or, where the device has subgroups,
// kernels/_flash_rows_subgroup.wgsl.
// Workgroup memory (vec4): Q of the block, row 4g + i at slot i·RG + g (so the 4 row groups of a warp read 4 banks
// apart), rows padded to ROW = HS4 + 1; K of the key block (BC × ROW: the score step reads it down a column); V
// (BC × HS4, read along rows); the probabilities Ps[c·PR + g], a vec4 over rows 4g … 4g+3 at key c (PR = BR/4 + 1,
// padded for the writes); one vec4 per thread for the row-group exchange. Three barriers per key block: K of the
// block is staged, the row max is exchanged (then K of the next block and V of this one are staged while the
// probabilities are made), P and V are complete. layers/flash_attention.ts picks BR and BC.
struct Params {
  out_base: u32,
  lse_base: u32,
  inp_base: u32,
  T: u32,
  C: u32,
  NH: u32,
  scale: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read_write> lse: array<f32>;
@group(0) @binding(3) var<storage, read> inp: array<f32>;

// Query rows per workgroup (a multiple of 4 up to 64), keys per block (TX, 2·TX, 4·TX or 8·TX, at most 64), head
// size / 4 (≤ 32); TX (threads per row group) is in kernels/_flash.wgsl.
override BR: u32 = 64u;
override BC: u32 = 32u;
override HS4: u32 = 16u;
override ROW: u32 = HS4 + 1u;
override RG: u32 = BR / 4u;
override PR: u32 = RG + 1u;
override NT: u32 = TX * RG;
override KPT: u32 = BC / TX;
override CPT: u32 = (HS4 + TX - 1u) / TX;

// The score of a masked key: 2^(NEG - m) is 0 for any score max m.
const NEG: f32 = -1.0e30;
const LOG2E: f32 = 1.4426950408889634;
const LN2: f32 = 0.6931471805599453;

var<workgroup> Qs: array<vec4f, BR * ROW>;
var<workgroup> Ks: array<vec4f, BC * ROW>;
var<workgroup> Vs: array<vec4f, BC * HS4>;
var<workgroup> Ps: array<vec4f, BC * PR>;
var<workgroup> red: array<vec4f, NT>;

fn load4(at: u32) -> vec4f {
  return vec4f(inp[at], inp[at + 1u], inp[at + 2u], inp[at + 3u]);
}

// Keys k0 … k0 + BC - 1 (zeros past T) into Ks; `part` is where the head's keys start.
fn stage_k(part: u32, k0: u32, lid: u32) {
  for (var i = lid; i < BC * HS4; i += NT) {
    let c = i / HS4;
    let d = i % HS4;
    var v = vec4f(0.0);
    if (k0 + c < p.T) {
      v = load4(part + (k0 + c) * 3u * p.C + 4u * d);
    }
    Ks[c * ROW + d] = v;
  }
}

// The same for the values into Vs.
fn stage_v(part: u32, k0: u32, lid: u32) {
  for (var i = lid; i < BC * HS4; i += NT) {
    let c = i / HS4;
    var v = vec4f(0.0);
    if (k0 + c < p.T) {
      v = load4(part + (k0 + c) * 3u * p.C + 4u * (i % HS4));
    }
    Vs[i] = v;
  }
}

// Scores (base 2) of rows 4g … 4g+3 against keys x + TX·j of the block.
fn scores(g: u32, x: u32) -> Scores {
  var s = Scores();
  for (var d = 0u; d < HS4; d++) {
    let q = Rows(Qs[g * ROW + d], Qs[(RG + g) * ROW + d], Qs[(2u * RG + g) * ROW + d], Qs[(3u * RG + g) * ROW + d]);
    let k = x * ROW + d;
    s.s0 = score4(s.s0, q, Ks[k]);
    if (KPT > 1u) {
      s.s1 = score4(s.s1, q, Ks[k + TX * ROW]);
    }
    if (KPT > 2u) {
      s.s2 = score4(s.s2, q, Ks[k + 2u * TX * ROW]);
      s.s3 = score4(s.s3, q, Ks[k + 3u * TX * ROW]);
    }
    if (KPT > 4u) {
      s.s4 = score4(s.s4, q, Ks[k + 4u * TX * ROW]);
      s.s5 = score4(s.s5, q, Ks[k + 5u * TX * ROW]);
      s.s6 = score4(s.s6, q, Ks[k + 6u * TX * ROW]);
      s.s7 = score4(s.s7, q, Ks[k + 7u * TX * ROW]);
    }
  }
  return s;
}

// NEG where key > row (the causal mask), else s.
fn masked(s: vec4f, key: u32, rows: vec4u) -> vec4f {
  return select(vec4f(NEG), s, vec4u(key) <= rows);
}

@compute @workgroup_size(NT)
fn flash_attention_forward(@builtin(local_invocation_index) lid: u32, q: QueryBlock) {
  let bh = q.wid.y;
  let g = lid / TX;
  let x = lid % TX;
  let q0 = first_query(q);
  let C3 = 3u * p.C;
  let head = head_start(p.inp_base, bh, C3);
  let qscale = p.scale * LOG2E;
  for (var i = lid; i < BR * HS4; i += NT) {
    let r = i / HS4;
    let d = i % HS4;
    var v = vec4f(0.0);
    if (q0 + r < p.T) {
      v = load4(head + (q0 + r) * C3 + 4u * d) * qscale;
    }
    Qs[((r % 4u) * RG + r / 4u) * ROW + d] = v;
  }
  stage_k(head + p.C, 0u, lid);
  let rows = vec4u(q0 + 4u * g) + vec4u(0u, 1u, 2u, 3u);
  let v0 = group_of(x, 0u);
  let v1 = group_of(x, 1u);
  let v2 = group_of(x, 2u);
  let v3 = group_of(x, 3u);
  var m = vec4f(NEG);
  var l = vec4f(0.0);
  var o = Block();
  let nkb = (min(p.T, q0 + BR) + BC - 1u) / BC;
  for (var j = 0u; j < nkb; j++) {
    let k0 = j * BC;
    workgroupBarrier(); // K of this block is staged; the previous block's output step is done with V and Ps
    var s = scores(g, x);
    let key = k0 + x;
    s.s0 = masked(s.s0, key, rows);
    var mx = s.s0;
    if (KPT > 1u) {
      s.s1 = masked(s.s1, key + TX, rows);
      mx = max(mx, s.s1);
    }
    if (KPT > 2u) {
      s.s2 = masked(s.s2, key + 2u * TX, rows);
      s.s3 = masked(s.s3, key + 3u * TX, rows);
      mx = max(mx, max(s.s2, s.s3));
    }
    if (KPT > 4u) {
      s.s4 = masked(s.s4, key + 4u * TX, rows);
      s.s5 = masked(s.s5, key + 5u * TX, rows);
      s.s6 = masked(s.s6, key + 6u * TX, rows);
      s.s7 = masked(s.s7, key + 7u * TX, rows);
      mx = max(max(mx, max(s.s4, s.s5)), max(s.s6, s.s7));
    }
    let mn = max(m, row_max(lid, mx)); // its barrier also means every thread is done with K
    if (j + 1u < nkb) {
      stage_k(head + p.C, k0 + BC, lid);
    }
    stage_v(head + 2u * p.C, k0, lid);
    let alpha = exp2(m - mn);
    m = mn;
    let c = x * PR + g;
    s.s0 = exp2(s.s0 - mn);
    var ls = s.s0;
    Ps[c] = s.s0;
    if (KPT > 1u) {
      s.s1 = exp2(s.s1 - mn);
      ls += s.s1;
      Ps[c + TX * PR] = s.s1;
    }
    if (KPT > 2u) {
      s.s2 = exp2(s.s2 - mn);
      s.s3 = exp2(s.s3 - mn);
      ls += s.s2 + s.s3;
      Ps[c + 2u * TX * PR] = s.s2;
      Ps[c + 3u * TX * PR] = s.s3;
    }
    if (KPT > 4u) {
      s.s4 = exp2(s.s4 - mn);
      s.s5 = exp2(s.s5 - mn);
      s.s6 = exp2(s.s6 - mn);
      s.s7 = exp2(s.s7 - mn);
      ls += (s.s4 + s.s5) + (s.s6 + s.s7);
      Ps[c + 4u * TX * PR] = s.s4;
      Ps[c + 5u * TX * PR] = s.s5;
      Ps[c + 6u * TX * PR] = s.s6;
      Ps[c + 7u * TX * PR] = s.s7;
    }
    l = l * alpha + ls;
    block_scale(&o, alpha);
    workgroupBarrier(); // V and Ps are complete
    for (var t = 0u; t < BC; t++) {
      let at = t * HS4;
      block_add(&o, Ps[t * PR + g], Vs[at + v0], Vs[at + v1], Vs[at + v2], Vs[at + v3]);
    }
  }
  // Row sums: the TX threads of a row group add their shares (red was last read before the loop's last barrier).
  let sum = row_sum(lid, l);
  store_block(head_start(p.out_base, bh, p.C), p.C, rows, x, o, 1.0 / sum);
  if (x == 0u) {
    let at = p.lse_base + bh * p.T;
    let lrow = (m + log2(sum)) * LN2;
    for (var i = 0u; i < 4u; i++) {
      if (rows[i] < p.T) {
        lse[at + rows[i]] = lrow[i];
      }
    }
  }
}

// Four consecutive floats of out (the store of kernels/_flash.wgsl).
fn write4(at: u32, v: vec4f) {
  out[at] = v.x;
  out[at + 1u] = v.y;
  out[at + 2u] = v.z;
  out[at + 3u] = v.w;
}
