/**
 * WebAssembly SIMD causal self-attention for one (batch, head) pair, llm.c's math. The caller offsets the
 * pointers to the pair: `inp`/`dinp` at qkv[b, 0, h·hs] (rows of 3C floats: q, then k at +C, v at +2C),
 * `out`/`dout` at out[b, 0, h·hs] (rows of C), `preatt`/`att`/`dpreatt`/`datt` at the pair's (T,T) block.
 * Different pairs touch disjoint memory, so pairs can run on any thread in any order.
 *
 * Forward, per query row t: preatt[t, t2] = (q_t · k_t2) · scale for t2 ≤ t; att = softmax over t2 ≤ t (max
 * starting at -10000 as in llm.c; exp by a Cephes-style polynomial, ~1 ulp); att and preatt are 0 above the
 * diagonal; out_t = Σ_t2 att[t, t2] · v_t2.
 * Backward: datt[t, t2] = dout_t · v_t2; dpreatt[t, t2] = att[t, t2] · (datt[t, t2] - Σ_t3 att[t, t3] datt[t, t3]);
 * then each gradient row is one weighted sum, written once: dq_t = scale · Σ_{t2≤t} dpreatt[t, t2] k_t2,
 * dk_t2 = scale · Σ_{t≥t2} dpreatt[t, t2] q_t, dv_t2 = Σ_{t≥t2} att[t, t2] dout_t.
 *
 * Dot products run four at a time (one x vector against four rows, lanes combined by shuffles); weighted sums
 * keep 16, 4 or 1 output columns in registers while they run over the rows.
 *
 * @module
 */
import { F32, type Fn, I32, V128 } from "./encoder.ts";
import type { ModuleBuilder } from "./binary.ts";
import { exportFn } from "./exports.ts";
import { type Madd, whileLoop } from "./matmul.ts";

// Locals shared by the helpers of one function.
interface Ctx {
  f: Fn;
  fma: Madd;
  hs: number; // param: head size (elements)
  hs4: number; // hs rounded down to a multiple of 4, in bytes
  i: number;
  j: number;
  n: number;
  ptr: number[]; // 4 pointers
  acc: number[]; // 4 v128
  xv: number; // v128
  sum: number; // f32
}

function ctx(f: Fn, fma: Madd, hs: number): Ctx {
  const c: Ctx = {
    f,
    fma,
    hs,
    hs4: f.local(I32),
    i: f.local(I32),
    j: f.local(I32),
    n: f.local(I32),
    ptr: [f.local(I32), f.local(I32), f.local(I32), f.local(I32)],
    acc: [f.local(V128), f.local(V128), f.local(V128), f.local(V128)],
    xv: f.local(V128),
    sum: f.local(F32),
  };
  f.get(hs).i32(-4).i32And().i32(2).i32Shl().set(c.hs4);
  return c;
}

/**
 * dst[j] = x · y_j for j < n (y_j = y + j·ystride bytes), over hs elements: the first hs4 in f32x4 lanes, four
 * rows at a time; each dot's lanes combine as (l0 + l2) + (l1 + l3), then the tail elements add in order.
 * x, y, ystride, dst: i32 locals; n: an i32 local (consumed).
 */
function rowDots(c: Ctx, x: number, y: number, ystride: number, n: number, dst: number): void {
  const { f, fma, i, j, acc, xv, ptr } = c;
  f.i32(0).set(j);
  // Four rows at a time.
  whileLoop(f, () => f.get(j).i32(4).i32Add().get(n).i32LeS(), () => {
    for (let r = 0; r < 4; r++) {
      f.get(y).get(j).i32(r).i32Add().get(ystride).i32Mul().i32Add().set(ptr[r]);
      f.f32x4Const(0).set(acc[r]);
    }
    f.i32(0).set(i);
    whileLoop(f, () => f.get(i).get(c.hs4).i32LtU(), () => {
      f.get(x).get(i).i32Add().v128Load().set(xv);
      for (let r = 0; r < 4; r++) {
        fma(f, () => f.get(xv), () => f.get(ptr[r]).get(i).i32Add().v128Load(), () => f.get(acc[r]));
        f.set(acc[r]);
      }
      f.inc(i, 16);
    });
    // Transpose-and-add: (a0, a1) -> (a0[0]+a0[2], a1[0]+a1[2], a0[1]+a0[3], a1[1]+a1[3]), same for (a2, a3),
    // then -> (Σa0, Σa1, Σa2, Σa3).
    for (const [a, b] of [[0, 1], [2, 3]]) {
      f.get(acc[a]).get(acc[b]).shuffle32([0, 4, 1, 5]).get(acc[a]).get(acc[b]).shuffle32([2, 6, 3, 7]);
      f.f32x4Add().set(acc[a]);
    }
    f.get(dst).get(j).i32(2).i32Shl().i32Add();
    f.get(acc[0]).get(acc[2]).shuffle32([0, 1, 4, 5]).get(acc[0]).get(acc[2]).shuffle32([2, 3, 6, 7]).f32x4Add();
    f.v128Store().inc(j, 4);
  });
  // The remaining rows one at a time, with the same lane order.
  whileLoop(f, () => f.get(j).get(n).i32LtS(), () => {
    f.get(y).get(j).get(ystride).i32Mul().i32Add().set(ptr[0]);
    f.f32x4Const(0).set(acc[0]).i32(0).set(i);
    whileLoop(f, () => f.get(i).get(c.hs4).i32LtU(), () => {
      fma(f, () => f.get(x).get(i).i32Add().v128Load(), () => f.get(ptr[0]).get(i).i32Add().v128Load(), () => {
        f.get(acc[0]);
      });
      f.set(acc[0]).inc(i, 16);
    });
    f.get(dst).get(j).i32(2).i32Shl().i32Add();
    f.get(acc[0]).f32x4ExtractLane(0).get(acc[0]).f32x4ExtractLane(2).f32Add();
    f.get(acc[0]).f32x4ExtractLane(1).get(acc[0]).f32x4ExtractLane(3).f32Add().f32Add();
    f.f32Store().inc(j, 1);
  });
  // Tail elements (hs not a multiple of 4), in order, for every row.
  f.get(c.hs4).get(c.hs).i32(2).i32Shl().i32LtU().if(() => {
    f.i32(0).set(j);
    whileLoop(f, () => f.get(j).get(n).i32LtS(), () => {
      f.get(y).get(j).get(ystride).i32Mul().i32Add().set(ptr[0]);
      f.get(dst).get(j).i32(2).i32Shl().i32Add().tee(ptr[1]).f32Load().set(c.sum);
      f.get(c.hs4).set(i);
      whileLoop(f, () => f.get(i).get(c.hs).i32(2).i32Shl().i32LtU(), () => {
        f.get(c.sum).get(x).get(i).i32Add().f32Load().get(ptr[0]).get(i).i32Add().f32Load().f32Mul().f32Add();
        f.set(c.sum).inc(i, 4);
      });
      f.get(ptr[1]).get(c.sum).f32Store().inc(j, 1);
    });
  });
}

/**
 * dst[i] = alpha · Σ_{j<n} w[j·wstride] · x_j[i] for i < hs (x_j = x + j·xstride bytes), j in order; 16, then
 * 4, then 1 columns at a time in registers. All operands i32 locals except alpha (an f32 local, or undefined
 * for 1).
 */
function weightedSum(
  c: Ctx,
  dst: number,
  w: number,
  wstride: number,
  x: number,
  xstride: number,
  n: number,
  alpha?: number,
): void {
  const { f, fma, i, j, acc, xv, ptr } = c;
  const [wp, xp] = [ptr[0], ptr[1]];
  f.i32(0).set(i); // column, bytes
  for (const width of [16, 4, 1]) {
    const nv = width >> 2;
    whileLoop(f, () => f.get(i).i32(4 * width).i32Add().get(c.hs).i32(2).i32Shl().i32LeS(), () => {
      if (nv) { for (let a = 0; a < nv; a++) f.f32x4Const(0).set(acc[a]); }
      else f.f32(0).set(c.sum);
      f.get(w).set(wp).get(x).get(i).i32Add().set(xp).i32(0).set(j);
      whileLoop(f, () => f.get(j).get(n).i32LtS(), () => {
        if (nv) {
          f.get(wp).load32Splat().set(xv);
          for (let a = 0; a < nv; a++) {
            fma(f, () => f.get(xv), () => f.get(xp).v128Load(16 * a), () => f.get(acc[a]));
            f.set(acc[a]);
          }
        } else f.get(wp).f32Load().get(xp).f32Load().f32Mul().get(c.sum).f32Add().set(c.sum);
        f.incBy(wp, wstride).incBy(xp, xstride).inc(j, 1);
      });
      for (let a = 0; a < Math.max(nv, 1); a++) {
        f.get(dst).get(i).i32Add();
        if (nv) {
          f.get(acc[a]);
          if (alpha !== undefined) f.get(alpha).f32x4Splat().f32x4Mul();
          f.v128Store(16 * a);
        } else {
          f.get(c.sum);
          if (alpha !== undefined) f.get(alpha).f32Mul();
          f.f32Store();
        }
      }
      f.inc(i, 4 * width);
    });
  }
}

/**
 * exp of each lane of local `x` into local `out` (uses v128 locals t1, t2; `out` may be `x`). Plain mul/add (no fused ops), so the
 * scalar tail (a splat through the same code) gives the same bits as the vector body.
 */
export function exp4(f: Fn, x: number, out: number, t1: number, t2: number): void {
  // Clamp, split x = k·ln2 + r with k = floor(x·log2(e) + 1/2), ln2 in two parts for an exact reduction.
  f.get(x).f32x4Const(88.3762626647949).f32x4Min().f32x4Const(-87.3365447504).f32x4Max().set(t1);
  f.get(t1).f32x4Const(1.44269504088896341).f32x4Mul().f32x4Const(0.5).f32x4Add().f32x4Floor().set(t2);
  f.get(t1).get(t2).f32x4Const(0.693359375).f32x4Mul().f32x4Sub();
  f.get(t2).f32x4Const(-2.12194440e-4).f32x4Mul().f32x4Sub().set(t1); // r
  // Polynomial for e^r on |r| <= ln2/2.
  f.f32x4Const(1.9875691500e-4);
  for (const p of [1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1]) {
    f.get(t1).f32x4Mul().f32x4Const(p).f32x4Add();
  }
  f.get(t1).get(t1).f32x4Mul().f32x4Mul().get(t1).f32x4Add().f32x4Const(1).f32x4Add();
  // Times 2^k built from the exponent bits; zero where x underflows.
  f.get(t2).i32x4TruncSatF32x4S().i32x4Const(127).i32x4Add().i32(23).i32x4Shl().f32x4Mul();
  f.get(x).f32x4Const(-87.3365447504).f32x4Ge().v128And().set(out);
}

function attentionForward(fma: Madd): Fn {
  const [f, { out, preatt, att, inp, T, C, hs, scale }] = exportFn("attn_fwd");
  const c = ctx(f, fma, hs);
  const ld3 = f.local(I32), t = f.local(I32), t2 = f.local(I32), q = f.local(I32), p = f.local(I32);
  const prow = f.local(I32), arow = f.local(I32), o = f.local(I32), k0 = f.local(I32), v0 = f.local(I32);
  const four = f.local(I32), cnt = f.local(I32);
  const maxv = f.local(F32), sum = f.local(F32), inv = f.local(F32), val = f.local(F32);
  const x = f.local(V128), e = f.local(V128), t1 = f.local(V128), tt = f.local(V128), vsum = f.local(V128);
  f.get(C).i32(12).i32Mul().set(ld3);
  f.get(inp).get(C).i32(4).i32Mul().i32Add().set(k0);
  f.get(inp).get(C).i32(8).i32Mul().i32Add().set(v0);
  f.i32(4).set(four);
  f.i32(0).set(t);
  whileLoop(f, () => f.get(t).get(T).i32LtS(), () => {
    f.get(inp).get(t).get(ld3).i32Mul().i32Add().set(q);
    f.get(t).get(T).i32Mul().i32(2).i32Shl().set(p);
    f.get(preatt).get(p).i32Add().set(prow);
    f.get(att).get(p).i32Add().set(arow);
    f.get(t).i32(1).i32Add().set(cnt);
    // Pass 1: q·k for t2 <= t, then scaled, with the running max.
    rowDots(c, q, k0, ld3, cnt, prow);
    f.f32(-10000).set(maxv).i32(0).set(t2);
    whileLoop(f, () => f.get(t2).get(t).i32LeS(), () => {
      f.get(prow).get(t2).i32(2).i32Shl().i32Add().tee(p).get(p).f32Load().get(scale).f32Mul().tee(val).f32Store();
      f.get(val).get(maxv).f32Gt().if(() => f.get(val).set(maxv));
      f.inc(t2, 1);
    });
    // Pass 2: exponentials and their sum (four lanes, then the tail).
    f.f32x4Const(0).set(vsum).i32(0).set(t2);
    const expAt = (lanes: boolean) => {
      f.get(prow).get(t2).i32(2).i32Shl().i32Add();
      if (lanes) f.v128Load();
      else f.f32Load().f32x4Splat();
      f.get(maxv).f32x4Splat().f32x4Sub().set(x);
      exp4(f, x, e, t1, tt);
      f.get(arow).get(t2).i32(2).i32Shl().i32Add().get(e);
    };
    whileLoop(f, () => f.get(t2).i32(3).i32Add().get(t).i32LeS(), () => {
      expAt(true);
      f.v128Store().get(vsum).get(e).f32x4Add().set(vsum).inc(t2, 4);
    });
    f.get(vsum).f32x4ExtractLane(0).get(vsum).f32x4ExtractLane(1).f32Add();
    f.get(vsum).f32x4ExtractLane(2).get(vsum).f32x4ExtractLane(3).f32Add().f32Add().set(sum);
    whileLoop(f, () => f.get(t2).get(t).i32LeS(), () => {
      expAt(false);
      f.f32x4ExtractLane(0).f32Store().get(sum).get(e).f32x4ExtractLane(0).f32Add().set(sum).inc(t2, 1);
    });
    f.f32(0).f32(1).get(sum).f32Div().get(sum).f32(0).f32Eq().select().set(inv);
    // Pass 3: normalize; att and preatt zero above the diagonal (as the reference layer).
    f.i32(0).set(t2);
    whileLoop(f, () => f.get(t2).get(t).i32LeS(), () => {
      f.get(arow).get(t2).i32(2).i32Shl().i32Add().tee(p).get(p).f32Load().get(inv).f32Mul().f32Store().inc(t2, 1);
    });
    whileLoop(f, () => f.get(t2).get(T).i32LtS(), () => {
      f.get(arow).get(t2).i32(2).i32Shl().i32Add().f32(0).f32Store();
      f.get(prow).get(t2).i32(2).i32Shl().i32Add().f32(0).f32Store().inc(t2, 1);
    });
    // Pass 4: out_t = Σ_t2 att[t, t2] · v_t2.
    f.get(out).get(t).get(C).i32Mul().i32(2).i32Shl().i32Add().set(o);
    weightedSum(c, o, arow, four, v0, ld3, cnt);
    f.inc(t, 1);
  });
  return f;
}

function attentionBackward(fma: Madd): Fn {
  const [f, { dinp, dpreatt, datt, dout, inp, att, T, C, hs, scale }] = exportFn("attn_bwd");
  const c = ctx(f, fma, hs);
  const ld3 = f.local(I32), ldo = f.local(I32), t = f.local(I32), t2 = f.local(I32), cnt = f.local(I32);
  const arow = f.local(I32), darow = f.local(I32), dprow = f.local(I32), x = f.local(I32), d = f.local(I32);
  const k0 = f.local(I32), v0 = f.local(I32), four = f.local(I32), ldt = f.local(I32), p = f.local(I32);
  const s = f.local(F32);
  f.get(C).i32(12).i32Mul().set(ld3);
  f.get(C).i32(4).i32Mul().set(ldo);
  f.get(T).i32(4).i32Mul().set(ldt);
  f.get(inp).get(C).i32(4).i32Mul().i32Add().set(k0);
  f.get(inp).get(C).i32(8).i32Mul().i32Add().set(v0);
  f.i32(4).set(four);
  const at = (rowp: number) => f.get(rowp).get(t2).i32(2).i32Shl().i32Add();
  const forT = (body: () => void) => {
    f.i32(0).set(t);
    whileLoop(f, () => f.get(t).get(T).i32LtS(), () => {
      body();
      f.inc(t, 1);
    });
  };
  forT(() => {
    f.get(t).get(ldt).i32Mul().set(p);
    f.get(att).get(p).i32Add().set(arow);
    f.get(datt).get(p).i32Add().set(darow);
    f.get(dpreatt).get(p).i32Add().set(dprow);
    f.get(dout).get(t).get(ldo).i32Mul().i32Add().set(x);
    f.get(t).i32(1).i32Add().set(cnt);
    // Through out_t = Σ att · v: datt[t, t2] = dout_t · v_t2.
    rowDots(c, x, v0, ld3, cnt, darow);
    // Through the softmax: dpreatt = att · (datt - Σ att · datt).
    f.f32(0).set(s).i32(0).set(t2);
    whileLoop(f, () => f.get(t2).get(t).i32LeS(), () => {
      f.get(s);
      at(arow).f32Load();
      at(darow).f32Load().f32Mul().f32Add().set(s).inc(t2, 1);
    });
    f.i32(0).set(t2);
    whileLoop(f, () => f.get(t2).get(t).i32LeS(), () => {
      at(dprow);
      at(arow).f32Load();
      at(darow).f32Load().get(s).f32Sub().f32Mul().f32Store().inc(t2, 1);
    });
  });
  // dq_t = scale · Σ_{t2<=t} dpreatt[t, t2] · k_t2.
  forT(() => {
    f.get(dinp).get(t).get(ld3).i32Mul().i32Add().set(d);
    f.get(dpreatt).get(t).get(ldt).i32Mul().i32Add().set(dprow);
    f.get(t).i32(1).i32Add().set(cnt);
    weightedSum(c, d, dprow, four, k0, ld3, cnt, scale);
  });
  // dk_t2 = scale · Σ_{t>=t2} dpreatt[t, t2] · q_t and dv_t2 = Σ_{t>=t2} att[t, t2] · dout_t (columns of the
  // (T,T) blocks, rows t2.. of q and dout); here t plays t2.
  forT(() => {
    f.get(T).get(t).i32Sub().set(cnt);
    f.get(t).get(ldt).i32Mul().get(t).i32(2).i32Shl().i32Add().set(p); // element (t, t) of a (T,T) block
    f.get(dinp).get(t).get(ld3).i32Mul().i32Add().get(C).i32(4).i32Mul().i32Add().set(d);
    f.get(dpreatt).get(p).i32Add().set(dprow);
    f.get(inp).get(t).get(ld3).i32Mul().i32Add().set(x);
    weightedSum(c, d, dprow, ldt, x, ld3, cnt, scale);
    f.get(d).get(C).i32(4).i32Mul().i32Add().set(d);
    f.get(att).get(p).i32Add().set(arow);
    f.get(dout).get(t).get(ldo).i32Mul().i32Add().set(x);
    weightedSum(c, d, arow, ldt, x, ldo, cnt);
  });
  return f;
}

/** Adds `attn_fwd` and `attn_bwd` (see the module comment for their pointers). */
export function addAttention(m: ModuleBuilder, fma: Madd): void {
  m.add(attentionForward(fma));
  m.add(attentionBackward(fma));
}
