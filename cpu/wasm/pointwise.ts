/**
 * WebAssembly SIMD kernels for the memory-bound rest of a training step: AdamW, the squared gradient norm, GELU
 * forward/backward and the rows of the fused softmax + cross-entropy (its denominator, its in-place gradient). Each
 * works on a range the caller picks; the vector body and the scalar tail run the same IEEE operations per element
 * (the tail splats one element through the vector code), so results do not depend on where ranges start.
 *
 * @module
 */
import { F32, F64, type Fn, I32, V128 } from "./encoder.ts";
import type { ModuleBuilder } from "./binary.ts";
import { exportFn } from "./exports.ts";
import { exp4 } from "./attention.ts";
import { whileLoop } from "./matmul.ts";

/**
 * Emits a loop over n elements: `body(load, store)` is called once for the vector body (4 lanes) and once for
 * the tail (one element splat to 4 lanes, lane 0 stored). `load(ptr)` pushes the v128 at ptr + i·4; `store`
 * pops a v128 and stores it (or its lane 0) at ptr + i·4.
 */
function lanes(
  f: Fn,
  n: number,
  body: (load: (ptr: number) => void, store: (ptr: number, value: () => void) => void, vector: boolean) => void,
): void {
  const i = f.local(I32), off = f.local(I32);
  f.i32(0).set(i);
  const run = (vector: boolean) => {
    f.get(i).i32(2).i32Shl().set(off);
    body(
      (ptr) => vector ? f.get(ptr).get(off).i32Add().v128Load() : f.get(ptr).get(off).i32Add().f32Load().f32x4Splat(),
      (ptr, value) => {
        f.get(ptr).get(off).i32Add();
        value();
        if (vector) f.v128Store();
        else f.f32x4ExtractLane(0).f32Store();
      },
      vector,
    );
    f.inc(i, vector ? 4 : 1);
  };
  whileLoop(f, () => f.get(i).i32(4).i32Add().get(n).i32LeS(), () => run(true));
  whileLoop(f, () => f.get(i).get(n).i32LtS(), () => run(false));
}

// adamw(params, grads, m, v, n, learningRate, beta1, beta2, eps, weightDecay, mCorrection, vCorrection, gradScale): as layers/adamw.ts in f32.
function adamw(): Fn {
  const [
    f,
    {
      params,
      grads,
      m,
      v,
      n,
      learningRate: lr,
      beta1,
      beta2,
      eps,
      weightDecay: wd,
      mCorrection: mCorr,
      vCorrection: vCorr,
      gradScale,
    },
  ] = exportFn("adamw");
  const g = f.local(V128), mi = f.local(V128), vi = f.local(V128), p = f.local(V128);
  const splat = (x: number) => f.get(x).f32x4Splat();
  lanes(f, n, (load, store) => {
    load(grads);
    splat(gradScale).f32x4Mul().set(g);
    // m = beta1·m + (1 - beta1)·g; v = beta2·v + (1 - beta2)·g²
    splat(beta1);
    load(m);
    f.f32x4Mul().f32(1).get(beta1).f32Sub().f32x4Splat().get(g).f32x4Mul().f32x4Add().set(mi);
    splat(beta2);
    load(v);
    f.f32x4Mul().f32(1).get(beta2).f32Sub().f32x4Splat().get(g).f32x4Mul().get(g).f32x4Mul().f32x4Add().set(vi);
    store(m, () => f.get(mi));
    store(v, () => f.get(vi));
    // p -= lr · (m̂ / (√v̂ + eps) + wd · p)
    load(params);
    f.set(p);
    store(params, () => {
      f.get(p);
      f.get(mi).get(mCorr).f32x4Splat().f32x4Div();
      f.get(vi).get(vCorr).f32x4Splat().f32x4Div().f32x4Sqrt().get(eps).f32x4Splat().f32x4Add().f32x4Div();
      f.get(wd).f32x4Splat().get(p).f32x4Mul().f32x4Add().get(lr).f32x4Splat().f32x4Mul().f32x4Sub();
    });
  });
  return f;
}

// sumsq(x, n) -> f64: Σ x² with products in f32 and the sum in two f64 lanes (lane 0: elements 0, 2 mod 4;
// lane 1: 1, 3), then the lanes added, then the tail in order.
function sumsq(): Fn {
  const [f, { x, n }] = exportFn("sumsq");
  const i = f.local(I32), acc = f.local(V128), sq = f.local(V128), s = f.local(F64), y = f.local(F32);
  f.f32x4Const(0).set(acc).i32(0).set(i); // all-zero bits: also 0.0 in both f64 lanes
  whileLoop(f, () => f.get(i).i32(4).i32Add().get(n).i32LeS(), () => {
    f.get(x).get(i).i32(2).i32Shl().i32Add().v128Load().tee(sq).get(sq).f32x4Mul().set(sq);
    f.get(acc).get(sq).f64x2PromoteLow().f64x2Add();
    f.get(sq).get(sq).shuffle32([2, 3, 0, 1]).f64x2PromoteLow().f64x2Add().set(acc).inc(i, 4);
  });
  f.get(acc).f64x2ExtractLane(0).get(acc).f64x2ExtractLane(1).f64Add().set(s);
  whileLoop(f, () => f.get(i).get(n).i32LtS(), () => {
    f.get(x).get(i).i32(2).i32Shl().i32Add().f32Load().set(y);
    f.get(s).get(y).get(y).f32Mul().f64PromoteF32().f64Add().set(s).inc(i, 1);
  });
  f.get(s);
  return f;
}

const GELU_K = Math.sqrt(2 / Math.PI), GELU_CUBIC = 0.044715;

// With u = K·(x + 0.044715·x³), e = exp(2u) and r = 1 / (e + 1): h = (1 + tanh u) / 2 = e·r and
// sech² u = 4·e·r². These forms avoid the cancellation of 1 ± tanh u for negative u. Sets locals h and r.
function geluParts(f: Fn, x: number, h: number, r: number, t1: number, t2: number): void {
  f.get(x).get(x).get(x).f32x4Mul().f32x4Const(2 * GELU_K * GELU_CUBIC).f32x4Mul().f32x4Const(2 * GELU_K).f32x4Add();
  f.f32x4Mul().set(h); // 2u
  exp4(f, h, h, t1, t2); // e
  f.f32x4Const(1).get(h).f32x4Const(1).f32x4Add().f32x4Div().set(r);
  f.get(h).get(r).f32x4Mul().set(h);
}

// gelu_fwd(out, inp, n): out = 0.5·x·(1 + tanh u) = x·h.
function geluForward(): Fn {
  const [f, { out, inp, n }] = exportFn("gelu_fwd");
  const x = f.local(V128), h = f.local(V128), r = f.local(V128), t1 = f.local(V128), t2 = f.local(V128);
  lanes(f, n, (load, store) => {
    load(inp);
    f.set(x);
    geluParts(f, x, h, r, t1, t2);
    store(out, () => f.get(x).get(h).f32x4Mul());
  });
  return f;
}

// gelu_bwd(dinp, inp, dout, n): dinp = (0.5·(1 + tanh u) + 0.5·x·sech² u·K·(1 + 3·0.044715·x²)) · dout
// = (h + 2·x·h·r·K·(1 + 0.134145·x²)) · dout.
function geluBackward(): Fn {
  const [f, { dinp, inp, dout, n }] = exportFn("gelu_bwd");
  const x = f.local(V128), h = f.local(V128), r = f.local(V128), t1 = f.local(V128), t2 = f.local(V128);
  lanes(f, n, (load, store) => {
    load(inp);
    f.set(x);
    geluParts(f, x, h, r, t1, t2);
    store(dinp, () => {
      f.get(h);
      f.get(x).get(h).f32x4Mul().get(r).f32x4Mul().f32x4Const(2 * GELU_K).f32x4Mul();
      f.f32x4Const(1).f32x4Const(3 * GELU_CUBIC).get(x).f32x4Mul().get(x).f32x4Mul().f32x4Add().f32x4Mul();
      f.f32x4Add();
      load(dout);
      f.f32x4Mul();
    });
  });
  return f;
}

// rowmax(x, n) -> f32: the largest of x[0..n) (n >= 1).
function rowMax(): Fn {
  const [f, { x, n }] = exportFn("rowmax");
  const i = f.local(I32), mv = f.local(V128), m = f.local(F32);
  f.get(x).f32Load().f32x4Splat().set(mv).i32(0).set(i);
  whileLoop(f, () => f.get(i).i32(4).i32Add().get(n).i32LeS(), () => {
    f.get(mv).get(x).get(i).i32(2).i32Shl().i32Add().v128Load().f32x4Max().set(mv).inc(i, 4);
  });
  f.get(mv).f32x4ExtractLane(0).get(mv).f32x4ExtractLane(1).f32Max();
  f.get(mv).f32x4ExtractLane(2).get(mv).f32x4ExtractLane(3).f32Max().f32Max().set(m);
  whileLoop(f, () => f.get(i).get(n).i32LtS(), () => {
    f.get(m).get(x).get(i).i32(2).i32Shl().i32Add().f32Load().f32Max().set(m).inc(i, 1);
  });
  f.get(m);
  return f;
}

// expsum_row(x, n, max) -> f64: Σ_{v<n} exp(x[v] - max), the softmax denominator of one row: the f32
// exponentials added in f64, the vector body in two lanes, then the lanes, then the tail in order.
function expSumRow(): Fn {
  const [f, { x, n, max }] = exportFn("expsum_row");
  const e = f.local(V128), t1 = f.local(V128), t2 = f.local(V128), acc = f.local(V128), s = f.local(F64);
  f.f32x4Const(0).set(acc).f32(0).f64PromoteF32().set(s);
  lanes(f, n, (load, _store, vector) => {
    load(x);
    f.get(max).f32x4Splat().f32x4Sub().set(e);
    exp4(f, e, e, t1, t2);
    if (vector) {
      f.get(acc).get(e).f64x2PromoteLow().f64x2Add();
      f.get(e).get(e).shuffle32([2, 3, 0, 1]).f64x2PromoteLow().f64x2Add().set(acc);
    } else f.get(s).get(e).f32x4ExtractLane(0).f64PromoteF32().f64Add().set(s);
  });
  // s holds the tail; the lanes come first in the total (the same order for every row).
  f.get(acc).f64x2ExtractLane(0).get(acc).f64x2ExtractLane(1).f64Add().get(s).f64Add();
  return f;
}

// xent_bwd_row(x, V, Vp, target, lse, dloss): one row of the fused classifier's backward, in place over the logits
// x: x[v] = (exp(x[v] - lse) - [v = target])·dloss for v < V, 0 for V <= v < Vp. Every element goes through the
// same vector code, the target's too (its logit is read first, its gradient stored last), so the result does not
// depend on where the vector body ends.
function xentBackwardRow(): Fn {
  const [f, { x, V, Vp, target, lse, dloss }] = exportFn("xent_bwd_row");
  const e = f.local(V128), t1 = f.local(V128), t2 = f.local(V128), xt = f.local(V128), i = f.local(I32);
  const at = f.local(I32);
  f.get(x).get(target).i32(2).i32Shl().i32Add().tee(at).f32Load().f32x4Splat().set(xt);
  lanes(f, V, (load, store) => {
    load(x);
    f.get(lse).f32x4Splat().f32x4Sub().set(e);
    exp4(f, e, e, t1, t2);
    store(x, () => f.get(e).get(dloss).f32x4Splat().f32x4Mul());
  });
  f.get(xt).get(lse).f32x4Splat().f32x4Sub().set(e);
  exp4(f, e, e, t1, t2);
  f.get(at).get(e).f32x4Const(1).f32x4Sub().get(dloss).f32x4Splat().f32x4Mul().f32x4ExtractLane(0).f32Store();
  f.get(V).set(i);
  whileLoop(f, () => f.get(i).get(Vp).i32LtS(), () => {
    f.get(x).get(i).i32(2).i32Shl().i32Add().f32(0).f32Store().inc(i, 1);
  });
  return f;
}

/** Adds `adamw`, `sumsq`, `gelu_fwd`, `gelu_bwd`, `rowmax`, `expsum_row` and `xent_bwd_row`. */
export function addPointwise(m: ModuleBuilder): void {
  for (const fn of [adamw(), sumsq(), geluForward(), geluBackward(), rowMax(), expSumRow(), xentBackwardRow()]) {
    m.add(fn);
  }
}
