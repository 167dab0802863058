// flash_attention_forward: causal multi-head attention without the T×T scores (FlashAttention-2's forward). inp
// (B,T,3C) holds each position's queries, keys and values (channels [0,C), [C,2C), [2C,3C); head h owns channels
// h·hs … h·hs + hs - 1 of each, hs = 4·HS4). For each (batch, head) and query row t:
//   out[t] = Σ_{t2 ≤ t} softmax_t2(q[t]·k[t2]·scale)·v[t2],  lse[t] = log Σ_{t2 ≤ t} exp(q[t]·k[t2]·scale),
// lse (B,NH,T) being what the backward pass recomputes the probabilities from. Keys are visited in blocks of BC with
// an online softmax: a running row max m, and the accumulator and the running sum rescaled by exp(m_old - m_new)
// whenever the max grows. A query block visits only the key blocks that start at or before its last row (the
// blocks wholly above the diagonal are skipped); inside a block, keys t2 > t get probability 0.
//
// Threads: 4·BR per workgroup, one workgroup per (query block, batch·head): query block = last - workgroup_id.x
// (the longest first), batch·head = workgroup_id.y (b·NH + h). Thread l = 16·g + x owns query rows 4g … 4g+3 of
// the block, the four lanes of its vec4 row values (m, l, the scores), and
//   - in the score step, key x of the key block and, when BC = 32, key x + 16: their scores as vec4 over its rows;
//   - in the output step, channels 4x … 4x+3 and 64 + 4x … 64 + 4x+3 of the head (those < hs), in a Rows4 of
//     accumulators (kernels/_flash.wgsl).
// Its running sums cover only its own keys; the 16 threads of a row group add theirs at the end. The row-group
// max and sum (`row_max`, `row_sum`) come from kernels/_flash_rows_workgroup.wgsl or, where the device has subgroups,
// kernels/_flash_rows_subgroup.wgsl.
// Workgroup memory: Q of the block (BR × HS4 vec4, row-major: read as broadcasts), K then V of the key block (BC
// rows padded to ROW = HS4 + 1 vec4 against bank conflicts, K and V taking turns), the probabilities
// Ps[c·BR/4 + g] (a vec4 over rows 4g … 4g+3 at key c, one load in the output step), and one vec4 per thread for
// the row-max exchange. layers/flash_attention.ts picks BR and BC.
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

// Query rows per workgroup (4, 8, 16, 32 or 64), keys per block (8, 16 or 32), head size / 4 (at most 32).
override BR: u32 = 32u;
override BC: u32 = 16u;
override HS4: u32 = 16u;
override ROW: u32 = HS4 + 1u;
override RG: u32 = BR / 4u;

// The score of a masked key: exp(NEG - m) is 0 for any score max m.
const NEG: f32 = -1.0e30;

var<workgroup> Qs: array<vec4f, BR * HS4>;
var<workgroup> KV: array<vec4f, BC * ROW>;
var<workgroup> Ps: array<vec4f, BC * RG>;
var<workgroup> red: array<vec4f, 4u * BR>;

fn load4(at: u32) -> vec4f {
  return vec4f(inp[at], inp[at + 1u], inp[at + 2u], inp[at + 3u]);
}

// Rows k0 … k0 + BC - 1 of the keys or values starting at `part` (zeros past T) into KV.
fn stage_kv(part: u32, k0: u32, lid: u32) {
  for (var i = lid; i < BC * HS4; i += 4u * BR) {
    let c = i / HS4;
    let d = i % HS4;
    var v = vec4f(0.0);
    if (k0 + c < p.T) {
      v = load4(part + (k0 + c) * 3u * p.C + 4u * d);
    }
    KV[c * ROW + d] = v;
  }
}

// Scores (unscaled) of rows 4g … 4g+3 against key c of the block.
fn scores(g: u32, c: u32) -> vec4f {
  var s = vec4f(0.0);
  for (var d = 0u; d < HS4; d++) {
    let k = KV[c * ROW + d];
    let q = 4u * g * HS4 + d;
    s += vec4f(dot(Qs[q], k), dot(Qs[q + HS4], k), dot(Qs[q + 2u * HS4], k), dot(Qs[q + 3u * HS4], k));
  }
  return s;
}

@compute @workgroup_size(4u * BR)
fn flash_attention_forward(@builtin(local_invocation_index) lid: u32, q: QueryBlock) {
  let bh = q.wid.y;
  let g = lid / 16u;
  let x = lid % 16u;
  let q0 = first_query(q);
  let C3 = 3u * p.C;
  let head = head_start(p.inp_base, bh, C3);
  for (var i = lid; i < BR * HS4; i += 4u * BR) {
    let r = q0 + i / HS4;
    var v = vec4f(0.0);
    if (r < p.T) {
      v = load4(head + r * C3 + 4u * (i % HS4));
    }
    Qs[i] = v;
  }
  let rows = vec4u(q0 + 4u * g) + vec4u(0u, 1u, 2u, 3u);
  // Key slots and channel groups of this thread, clamped so that reads stay in bounds (results for x ≥ BC or
  // channels ≥ hs are dropped).
  let ca = min(x, BC - 1u);
  let cb = min(x + 16u, BC - 1u);
  let da = min(x, HS4 - 1u);
  let db = min(x + 16u, HS4 - 1u);
  var m = vec4f(NEG);
  var l = vec4f(0.0);
  var o = Rows4();
  let nkb = (min(p.T, q0 + BR) + BC - 1u) / BC;
  for (var j = 0u; j < nkb; j++) {
    let k0 = j * BC;
    workgroupBarrier(); // the previous block's output step is done with KV and Ps (and Qs is complete)
    stage_kv(head + p.C, k0, lid);
    workgroupBarrier();
    let oka = (vec4u(k0 + x) <= rows) & vec4<bool>(x < BC && k0 + x < p.T);
    let okb = (vec4u(k0 + x + 16u) <= rows) & vec4<bool>(x + 16u < BC && k0 + x + 16u < p.T);
    let sa = select(vec4f(NEG), scores(g, ca) * p.scale, oka);
    var sb = vec4f(NEG);
    if (BC > 16u) {
      sb = select(vec4f(NEG), scores(g, cb) * p.scale, okb);
    }
    let mb = row_max(lid, max(sa, sb)); // its barrier also means every thread is done with K
    stage_kv(head + 2u * p.C, k0, lid);
    let mn = max(m, mb);
    let alpha = exp(m - mn);
    let pa = select(vec4f(0.0), exp(sa - mn), oka);
    let pb = select(vec4f(0.0), exp(sb - mn), okb);
    l = l * alpha + pa + pb;
    m = mn;
    if (x < BC) {
      Ps[x * RG + g] = pa;
    }
    if (BC > 16u && x + 16u < BC) {
      Ps[(x + 16u) * RG + g] = pb;
    }
    rows4_scale(&o, alpha);
    workgroupBarrier(); // V and Ps are complete
    for (var c = 0u; c < BC; c++) {
      rows4_add(&o, Ps[c * RG + g], KV[c * ROW + da], KV[c * ROW + db]);
    }
  }
  // Row sums: the 16 threads of a row group add their shares (red was last read before the loop's last barrier).
  let sum = row_sum(lid, l);
  let inv = 1.0 / sum;
  store_rows(head_start(p.out_base, bh, p.C), p.C, rows, x, o, inv);
  if (x == 0u) {
    let at = p.lse_base + bh * p.T;
    let lrow = m + log(sum);
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
