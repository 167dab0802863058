/**
 * WebAssembly SIMD causal self-attention for one (batch, head) pair, llm.c's math. The caller offsets the
 * pointers to the pair: `inp`/`dinp` at qkv[b, 0, h·hs] (rows of 3C floats: q, then k at +C, v at +2C),
 * `out`/`dout` at out[b, 0, h·hs] (rows of C), `preatt`/`att`/`dpreatt`/`datt` at the pair's (T,T) block.
 * Different pairs touch disjoint memory, so pairs can run on any thread in any order.
 *
 * Forward, per query row t: preatt[t, t2] = (q_t · k_t2) · scale for t2 ≤ t; att = softmax over t2 ≤ t (max
 * starting at -10000 as in llm.c, exp via a Cephes-style polynomial with ~1 ulp error), zero above the diagonal;
 * out_t = Σ_t2 att[t, t2] · v_t2 accumulated in t2 order.
 * Backward: dq, dk, dv of the pair are zeroed, then per t: datt[t, t2] = v_t2 · dout_t, dv_t2 += att · dout_t;
 * dpreatt[t, t2] = att[t, t2] · (datt[t, t2] - Σ_t3 att[t, t3] datt[t, t3]); dq_t += g · k_t2, dk_t2 += g · q_t
 * with g = dpreatt[t, t2] · scale.
 *
 * @module
 */
import { F32, Fn, I32, type ModuleBuilder, V128 } from "./encoder.ts";
import { hsum, type Madd, whileLoop } from "./matmul.ts";

// Locals shared by the helpers of one function.
interface Ctx {
  f: Fn;
  fma: Madd;
  hs: number; // param: head size (elements)
  hs4: number; // local: hs rounded down to 4, in bytes
  i: number; // local i32
  va: number; // local v128
  vb: number;
  vc: number;
  sa: number; // local f32
}

function ctx(f: Fn, fma: Madd, hs: number): Ctx {
  const c = {
    f,
    fma,
    hs,
    hs4: f.local(I32),
    i: f.local(I32),
    va: f.local(V128),
    vb: f.local(V128),
    vc: f.local(V128),
    sa: f.local(F32),
  };
  f.get(hs).i32(-4).i32And().i32(2).i32Shl().set(c.hs4);
  return c;
}

/** Leaves Σ_i x[i] · y[i] over hs elements on the stack (f32): lanes, lane sum, then the tail in order. */
function dot(c: Ctx, x: number, y: number): void {
  const { f, fma, i, va } = c;
  f.f32x4Const(0).set(va).i32(0).set(i);
  whileLoop(f, () => f.get(i).get(c.hs4).i32LtU(), () => {
    fma(f, () => f.get(x).get(i).i32Add().v128Load(), () => f.get(y).get(i).i32Add().v128Load(), () => f.get(va));
    f.set(va).inc(i, 16);
  });
  hsum(f, va);
  f.set(c.sa);
  whileLoop(f, () => f.get(i).get(c.hs).i32(2).i32Shl().i32LtU(), () => {
    f.get(c.sa).get(x).get(i).i32Add().f32Load().get(y).get(i).i32Add().f32Load().f32Mul().f32Add().set(c.sa);
    f.inc(i, 4);
  });
  f.get(c.sa);
}

/** y[i] += g · x[i] over hs elements; `g` is an f32 local. */
function axpy(c: Ctx, y: number, g: number, x: number): void {
  const { f, fma, i, vb } = c;
  f.get(g).f32x4Splat().set(vb).i32(0).set(i);
  whileLoop(f, () => f.get(i).get(c.hs4).i32LtU(), () => {
    f.get(y).get(i).i32Add();
    fma(f, () => f.get(vb), () => f.get(x).get(i).i32Add().v128Load(), () => f.get(y).get(i).i32Add().v128Load());
    f.v128Store().inc(i, 16);
  });
  whileLoop(f, () => f.get(i).get(c.hs).i32(2).i32Shl().i32LtU(), () => {
    f.get(y).get(i).i32Add().get(y).get(i).i32Add().f32Load().get(g).get(x).get(i).i32Add().f32Load().f32Mul();
    f.f32Add().f32Store().inc(i, 4);
  });
}

/**
 * exp of each lane of local `x` into local `out` (uses locals t1, t2). Plain mul/add (no fused ops), so the
 * scalar tail (a splat through the same code) gives the same bits as the vector body.
 */
function exp4(f: Fn, x: number, out: number, t1: number, t2: number): void {
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
  const f = new Fn("attn_fwd", [I32, I32, I32, I32, I32, I32, I32, F32], []);
  const [out, preatt, att, inp, T, C, hs, scale] = [0, 1, 2, 3, 4, 5, 6, 7];
  const c = ctx(f, fma, hs);
  const ld3 = f.local(I32), t = f.local(I32), t2 = f.local(I32), q = f.local(I32), p = f.local(I32);
  const prow = f.local(I32), arow = f.local(I32), o = f.local(I32), vp = f.local(I32), j = f.local(I32);
  const maxv = f.local(F32), sum = f.local(F32), inv = f.local(F32), val = f.local(F32);
  const x = f.local(V128), e = f.local(V128), t1 = f.local(V128), tt = f.local(V128), vsum = f.local(V128);
  const acc = Array.from({ length: 4 }, () => f.local(V128));
  f.get(C).i32(12).i32Mul().set(ld3);
  f.i32(0).set(t);
  whileLoop(f, () => f.get(t).get(T).i32LtS(), () => {
    f.get(inp).get(t).get(ld3).i32Mul().i32Add().set(q);
    f.get(t).get(T).i32Mul().i32(2).i32Shl().set(p);
    f.get(preatt).get(p).i32Add().set(prow);
    f.get(att).get(p).i32Add().set(arow);
    // Pass 1: scaled q·k and the running max.
    f.f32(-10000).set(maxv).i32(0).set(t2);
    whileLoop(f, () => f.get(t2).get(t).i32LeS(), () => {
      f.get(inp).get(t2).get(ld3).i32Mul().i32Add().get(C).i32(2).i32Shl().i32Add().set(p);
      dot(c, q, p);
      f.get(scale).f32Mul().set(val);
      f.get(prow).get(t2).i32(2).i32Shl().i32Add().get(val).f32Store();
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
    hsum(f, vsum);
    f.set(sum);
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
    // Pass 4: out_t = Σ_t2 att[t2] · v_t2, in registers 16, 4, then 1 column at a time.
    f.get(out).get(t).get(C).i32Mul().i32(2).i32Shl().i32Add().set(o);
    f.i32(0).set(j);
    for (const width of [16, 4, 1]) {
      const nv = Math.floor(width / 4);
      whileLoop(f, () => f.get(j).i32(width).i32Add().get(hs).i32LeS(), () => {
        for (let a = 0; a < Math.max(nv, 1); a++) (nv ? f.f32x4Const(0) : f.f32(0)).set(nv ? acc[a] : val);
        f.get(inp).get(C).i32(3).i32Shl().i32Add().get(j).i32(2).i32Shl().i32Add().set(vp);
        f.i32(0).set(t2);
        whileLoop(f, () => f.get(t2).get(t).i32LeS(), () => {
          f.get(arow).get(t2).i32(2).i32Shl().i32Add();
          if (nv) {
            f.load32Splat().set(x);
            for (let a = 0; a < nv; a++) {
              fma(f, () => f.get(x), () => f.get(vp).v128Load(16 * a), () => f.get(acc[a]));
              f.set(acc[a]);
            }
          } else f.f32Load().get(vp).f32Load().f32Mul().get(val).f32Add().set(val);
          f.incBy(vp, ld3).inc(t2, 1);
        });
        f.get(o).get(j).i32(2).i32Shl().i32Add().set(p);
        if (nv) for (let a = 0; a < nv; a++) f.get(p).get(acc[a]).v128Store(16 * a);
        else f.get(p).get(val).f32Store();
        f.inc(j, width);
      });
    }
    f.inc(t, 1);
  });
  return f;
}

function attentionBackward(fma: Madd): Fn {
  const f = new Fn("attn_bwd", [I32, I32, I32, I32, I32, I32, I32, I32, I32, F32], []);
  const [dinp, dpreatt, datt, dout, inp, att, T, C, hs, scale] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const c = ctx(f, fma, hs);
  const ld3 = f.local(I32), t = f.local(I32), t2 = f.local(I32), p = f.local(I32), q = f.local(I32);
  const arow = f.local(I32), darow = f.local(I32), dprow = f.local(I32), dop = f.local(I32);
  const x = f.local(I32), y = f.local(I32), C4 = f.local(I32);
  const g = f.local(F32), s = f.local(F32);
  f.get(C).i32(12).i32Mul().set(ld3);
  f.get(C).i32(2).i32Shl().set(C4);
  // dq, dk, dv of this pair start at zero.
  f.i32(0).set(t);
  whileLoop(f, () => f.get(t).get(T).i32LtS(), () => {
    for (let part = 0; part < 3; part++) {
      f.get(dinp).get(t).get(ld3).i32Mul().i32Add().get(C4).i32(part).i32Mul().i32Add().set(p);
      f.i32(0).set(c.i);
      whileLoop(f, () => f.get(c.i).get(c.hs4).i32LtU(), () => {
        f.get(p).get(c.i).i32Add().f32x4Const(0).v128Store().inc(c.i, 16);
      });
      whileLoop(f, () => f.get(c.i).get(hs).i32(2).i32Shl().i32LtU(), () => {
        f.get(p).get(c.i).i32Add().f32(0).f32Store().inc(c.i, 4);
      });
    }
    f.inc(t, 1);
  });
  const row = (base: number, dst: number) => f.get(base).get(t).get(T).i32Mul().i32(2).i32Shl().i32Add().set(dst);
  const at = (rowp: number) => f.get(rowp).get(t2).i32(2).i32Shl().i32Add();
  const forT2 = (body: () => void) => {
    f.i32(0).set(t2);
    whileLoop(f, () => f.get(t2).get(t).i32LeS(), () => {
      body();
      f.inc(t2, 1);
    });
  };
  f.i32(0).set(t);
  whileLoop(f, () => f.get(t).get(T).i32LtS(), () => {
    row(att, arow);
    row(datt, darow);
    row(dpreatt, dprow);
    f.get(dout).get(t).get(C4).i32Mul().i32Add().set(dop);
    // Through out_t = Σ att · v: datt[t2] = v_t2 · dout_t, dv_t2 += att[t2] · dout_t.
    forT2(() => {
      f.get(inp).get(t2).get(ld3).i32Mul().i32Add().get(C4).i32(2).i32Mul().i32Add().set(x);
      at(darow);
      dot(c, x, dop);
      f.f32Store();
      f.get(dinp).get(t2).get(ld3).i32Mul().i32Add().get(C4).i32(2).i32Mul().i32Add().set(y);
      at(arow).f32Load().set(g);
      axpy(c, y, g, dop);
    });
    // Through the softmax: dpreatt = att · (datt - Σ att · datt).
    f.f32(0).set(s);
    forT2(() => {
      f.get(s);
      at(arow).f32Load();
      at(darow).f32Load().f32Mul().f32Add().set(s);
    });
    forT2(() => {
      at(dprow);
      at(arow).f32Load();
      at(darow).f32Load().get(s).f32Sub().f32Mul().f32Store();
    });
    // Through preatt = (q · k) · scale: dq_t += g · k_t2, dk_t2 += g · q_t.
    f.get(inp).get(t).get(ld3).i32Mul().i32Add().set(q);
    f.get(dinp).get(t).get(ld3).i32Mul().i32Add().set(p);
    forT2(() => {
      at(dprow).f32Load().get(scale).f32Mul().set(g);
      f.get(inp).get(t2).get(ld3).i32Mul().i32Add().get(C4).i32Add().set(x);
      f.get(dinp).get(t2).get(ld3).i32Mul().i32Add().get(C4).i32Add().set(y);
      axpy(c, p, g, x);
      axpy(c, y, g, q);
    });
    f.inc(t, 1);
  });
  return f;
}

/** Adds `attn_fwd` and `attn_bwd` (see the module comment for their pointers). */
export function addAttention(m: ModuleBuilder, fma: Madd): void {
  m.add(attentionForward(fma));
  m.add(attentionBackward(fma));
}
