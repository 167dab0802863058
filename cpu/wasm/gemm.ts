/**
 * Packed matrix product for the backward matmuls: c[r, j] (= | +=) Σ_k a(r, k) · b[k, j], with
 * a(r, k) = a[r·sar + k·sak] and b rows `ldb` bytes apart (all in the shared memory 0).
 *
 * `gemm` first copies b into the module's private memory 1 as column strips of 4S floats, each strip K rows of
 * 16S contiguous bytes (zero past the last column), so the inner loop streams one cache-friendly panel whatever
 * b's row stride (strided rows of 3 KiB or 12 KiB alias in L1). Rows of c go R at a time: a is read in place
 * when `aPacked` is 0 (rows contiguous along k: dout rows for dinp), or first gathered into memory 1 as K
 * groups of R floats (dout columns for dweight, whose rows are OC floats apart). The register tile is R rows ×
 * S f32x4 columns: per k, S vectors of the b strip and R splats of a, R·S multiply-adds.
 *
 * Every element of c starts from 0 or its old value and adds its K terms in k order in one f32x4 lane, whatever
 * tile it falls in: edge tiles run the same code on a copy in memory 1 (zero-padded, never stored back). So
 * results do not depend on how rows, columns or k are cut into calls.
 *
 * @module
 */
import { Fn, I32, V128 } from "./encoder.ts";
import type { ModuleBuilder } from "./binary.ts";
import { exportFn } from "./exports.ts";
import { type Madd, whileLoop } from "./matmul.ts";

/** Bytes of memory 1 for the packed b panel: callers keep K · roundUp(cols, 4S) · 4 within it. */
export const GEMM_PANEL_BYTES = 640 * 1024;
/** Largest K per call (the packed a block). */
export const GEMM_MAX_K = 4096;
const AP = GEMM_PANEL_BYTES; // packed a: K groups of R floats
const CS = AP + GEMM_MAX_K * 8 * 4; // one edge tile of c
/** Pages of memory 1 the gemm needs. */
export const GEMM_PRIVATE_PAGES = Math.ceil((CS + 4096) / 65536);

/** Register tile of the gemm: R rows × S f32x4 columns (R·S + S + 1 vector registers in the loop). */
export interface GemmTile {
  R: number;
  S: number;
}

// The micro-kernel: params a, sar, rv, bp, c, ldc, K, init. aPacked: a is the packed block in memory 1 (sar and
// rv unused); else rows of a are read in place from memory 0 (row r >= rv reads row rv - 1: computed, never
// stored). cMem: the memory holding c (1 for edge tiles).
function tile(R: number, S: number, aPacked: boolean, cMem: number, fma: Madd): Fn {
  const f = new Fn(`gemm_tile_${aPacked ? "p" : "r"}${cMem}`, Array(8).fill(I32), []);
  const [a, sar, rv, bp, c, ldc, K, init] = [0, 1, 2, 3, 4, 5, 6, 7];
  const pa = Array.from({ length: aPacked ? 1 : R }, () => f.local(I32));
  const k = f.local(I32);
  const acc = Array.from({ length: R * S }, () => f.local(V128));
  const bv = Array.from({ length: S }, () => f.local(V128));
  const av = f.local(V128);
  if (aPacked) f.get(a).set(pa[0]);
  else {
    for (let r = 0; r < R; r++) {
      // pa_r = a + min(r, rv - 1) · sar
      f.get(a).i32(r).get(rv).i32(1).i32Sub().i32(r).get(rv).i32(1).i32Sub().i32LtS().select().get(sar).i32Mul();
      f.i32Add().set(pa[r]);
    }
  }
  const cAt = (r: number) => f.get(c).get(ldc).i32(r).i32Mul().i32Add();
  f.get(init).if(() => {
    for (let r = 0; r < R; r++) for (let s = 0; s < S; s++) cAt(r).v128Load(16 * s, cMem).set(acc[r * S + s]);
  }, () => {
    for (const x of acc) f.f32x4Const(0).set(x);
  });
  const step = (u: number) => {
    for (let s = 0; s < S; s++) f.get(bp).v128Load(u * 16 * S + 16 * s, 1).set(bv[s]);
    for (let r = 0; r < R; r++) {
      if (aPacked) f.get(pa[0]).load32Splat(u * 4 * R + 4 * r, 1);
      else f.get(pa[r]).load32Splat(u * 4, 0);
      f.set(av);
      for (let s = 0; s < S; s++) {
        fma(f, () => f.get(av), () => f.get(bv[s]), () => f.get(acc[r * S + s]));
        f.set(acc[r * S + s]);
      }
    }
  };
  const advance = (steps: number) => {
    f.inc(bp, steps * 16 * S);
    if (aPacked) f.inc(pa[0], steps * 4 * R);
    else for (const p of pa) f.inc(p, steps * 4);
    f.inc(k, steps);
  };
  const U = 4;
  f.i32(0).set(k);
  whileLoop(f, () => f.get(k).i32(U).i32Add().get(K).i32LeS(), () => {
    for (let u = 0; u < U; u++) step(u);
    advance(U);
  });
  whileLoop(f, () => f.get(k).get(K).i32LtS(), () => {
    step(0);
    advance(1);
  });
  for (let r = 0; r < R; r++) for (let s = 0; s < S; s++) cAt(r).get(acc[r * S + s]).v128Store(16 * s, cMem);
  return f;
}

// pack_b(b, ldb, K, cols): strip jt, row k at (jt·K + k)·16S in memory 1; zeros past `cols`.
function packB(S: number): Fn {
  const f = new Fn("gemm_pack_b", Array(4).fill(I32), []);
  const [b, ldb, K, cols] = [0, 1, 2, 3];
  const k = f.local(I32), j = f.local(I32), src = f.local(I32), dst = f.local(I32);
  const full = f.local(I32), strip = f.local(I32), last = f.local(I32), jm = f.local(I32);
  const W = 4 * S;
  f.get(K).i32(16 * S).i32Mul().set(strip); // bytes per strip
  f.get(cols).i32(W).i32DivU().set(full); // strips with all W columns
  f.get(cols).get(full).i32(W).i32Mul().i32Sub().set(last); // columns in the partial strip (0: none)
  f.get(last).i32(1).i32Sub().set(jm);
  f.i32(0).set(k);
  whileLoop(f, () => f.get(k).get(K).i32LtS(), () => {
    f.get(b).get(k).get(ldb).i32Mul().i32Add().set(src);
    f.get(k).i32(16 * S).i32Mul().set(dst);
    f.i32(0).set(j);
    whileLoop(f, () => f.get(j).get(full).i32LtS(), () => {
      for (let s = 0; s < S; s++) f.get(dst).get(src).v128Load(16 * s).v128Store(16 * s, 1);
      f.inc(src, 16 * S).incBy(dst, strip).inc(j, 1);
    });
    f.get(last).if(() => {
      // The partial strip: `last` columns (reads clamped to the last one), then zeros.
      for (let jj = 0; jj < W; jj++) {
        f.get(dst);
        f.get(src).i32(jj).get(jm).i32(jj).get(jm).i32LtS().select().i32(2).i32Shl().i32Add().f32Load();
        f.f32(0).i32(jj).get(last).i32LtS().select().f32Store(4 * jj, 1);
      }
    });
    f.inc(k, 1);
  });
  return f;
}

// pack_a(a, sar, sak, K, rv): AP + (k·R + r)·4 in memory 1 = a[r·sar + k·sak] for r < rv, else 0.
function packA(R: number): Fn {
  const f = new Fn("gemm_pack_a", Array(5).fill(I32), []);
  const [a, sar, sak, K, rv] = [0, 1, 2, 3, 4];
  const k = f.local(I32), src = f.local(I32), dst = f.local(I32), rm = f.local(I32);
  f.get(rv).i32(1).i32Sub().set(rm);
  f.i32(0).set(k).get(a).set(src).i32(AP).set(dst);
  f.get(sar).i32(4).i32Eq().get(rv).i32(R).i32Eq().i32And().if(() => {
    // R contiguous floats per k (dout columns o..o+R-1): vector copies, then single floats.
    whileLoop(f, () => f.get(k).get(K).i32LtS(), () => {
      for (let r = 0; r + 4 <= R; r += 4) f.get(dst).get(src).v128Load(4 * r).v128Store(4 * r, 1);
      for (let r = R & ~3; r < R; r++) f.get(dst).get(src).f32Load(4 * r).f32Store(4 * r, 1);
      f.incBy(src, sak).inc(dst, 4 * R).inc(k, 1);
    });
  }, () => {
    whileLoop(f, () => f.get(k).get(K).i32LtS(), () => {
      for (let r = 0; r < R; r++) {
        f.get(dst);
        f.get(src).i32(r).get(rm).i32(r).get(rm).i32LtS().select().get(sar).i32Mul().i32Add().f32Load();
        f.f32(0).i32(r).get(rv).i32LtS().select().f32Store(4 * r, 1);
      }
      f.incBy(src, sak).inc(dst, 4 * R).inc(k, 1);
    });
  });
  return f;
}

// Copies an edge tile between c (memory 0) and CS (memory 1, R rows of 4S floats). In: CS = c where r < rv and
// j < cv (if init, else 0), 0 elsewhere. Out: c = CS where r < rv and j < cv.
function edgeCopy(R: number, S: number, out: boolean): Fn {
  const f = new Fn(out ? "gemm_edge_out" : "gemm_edge_in", Array(5).fill(I32), []);
  const [c, ldc, rv, cv, init] = [0, 1, 2, 3, 4];
  const r = f.local(I32), j = f.local(I32), valid = f.local(I32);
  const cAt = () => f.get(c).get(r).get(ldc).i32Mul().i32Add().get(j).i32(2).i32Shl().i32Add();
  const csAt = () => f.i32(CS).get(r).i32(16 * S).i32Mul().i32Add().get(j).i32(2).i32Shl().i32Add();
  f.i32(0).set(r);
  whileLoop(f, () => f.get(r).i32(R).i32LtS(), () => {
    f.i32(0).set(j);
    whileLoop(f, () => f.get(j).i32(4 * S).i32LtS(), () => {
      f.get(r).get(rv).i32LtS().get(j).get(cv).i32LtS().i32And().set(valid);
      if (out) {
        f.get(valid).if(() => {
          cAt();
          csAt();
          f.f32Load(0, 1).f32Store();
        });
      } else {
        f.get(valid).get(init).i32And().if(() => {
          csAt();
          cAt().f32Load().f32Store(0, 1);
        }, () => {
          csAt().f32(0).f32Store(0, 1);
        });
      }
      f.inc(j, 1);
    });
    f.inc(r, 1);
  });
  return f;
}

/**
 * Adds `gemm(c, ldc, a, sar, sak, aPacked, b, ldb, rows, cols, K, init)` and its helpers: strides in bytes,
 * init 0 writes c, 1 adds to it; K <= {@link GEMM_MAX_K} and K · roundUp(cols, 4S) · 4 <= {@link GEMM_PANEL_BYTES};
 * aPacked 0 (a read in place) needs sak = 4.
 * The module needs memory 1 of {@link GEMM_PRIVATE_PAGES} pages.
 */
export function addGemm(m: ModuleBuilder, fma: Madd, { R, S }: GemmTile): void {
  const full = { r: m.add(tile(R, S, false, 0, fma)), p: m.add(tile(R, S, true, 0, fma)) };
  const edge = { r: m.add(tile(R, S, false, 1, fma)), p: m.add(tile(R, S, true, 1, fma)) };
  const packBi = m.add(packB(S)), packAi = m.add(packA(R));
  const edgeIn = m.add(edgeCopy(R, S, false)), edgeOut = m.add(edgeCopy(R, S, true));
  const [f, { c, ldc, a, sar, sak, aPacked, b, ldb, rows, cols, K, init }] = exportFn("gemm");
  const r0 = f.local(I32), rv = f.local(I32), jt = f.local(I32), nJ = f.local(I32), cv = f.local(I32);
  const arg = f.local(I32), cp = f.local(I32), bp = f.local(I32), strip = f.local(I32);
  const W = 4 * S;
  f.get(b).get(ldb).get(K).get(cols).call(packBi);
  f.get(cols).i32(W - 1).i32Add().i32(W).i32DivU().set(nJ);
  f.get(K).i32(16 * S).i32Mul().set(strip);
  f.i32(0).set(r0);
  whileLoop(f, () => f.get(r0).get(rows).i32LtS(), () => {
    f.get(rows).get(r0).i32Sub().set(rv);
    f.get(rv).i32(R).get(rv).i32(R).i32LtS().select().set(rv); // min(R, rows - r0)
    f.get(a).get(r0).get(sar).i32Mul().i32Add().set(arg);
    f.get(aPacked).if(() => {
      f.get(arg).get(sar).get(sak).get(K).get(rv).call(packAi);
      f.i32(AP).set(arg);
    });
    f.i32(0).set(jt).i32(0).set(bp);
    f.get(c).get(r0).get(ldc).i32Mul().i32Add().set(cp);
    whileLoop(f, () => f.get(jt).get(nJ).i32LtS(), () => {
      f.get(cols).get(jt).i32(W).i32Mul().i32Sub().set(cv);
      const callTile = (fns: { r: number; p: number }, args: () => Fn) =>
        f.get(aPacked).if(() => args().call(fns.p), () => args().call(fns.r));
      f.get(rv).i32(R).i32Eq().get(cv).i32(W).i32GeS().i32And().if(() => {
        callTile(full, () => f.get(arg).get(sar).get(rv).get(bp).get(cp).get(ldc).get(K).get(init));
      }, () => {
        f.get(cp).get(ldc).get(rv).get(cv).get(init).call(edgeIn);
        callTile(edge, () => f.get(arg).get(sar).get(rv).get(bp).i32(CS).i32(16 * S).get(K).i32(1));
        f.get(cp).get(ldc).get(rv).get(cv).i32(0).call(edgeOut);
      });
      f.inc(jt, 1).incBy(bp, strip).inc(cp, 16 * S);
    });
    f.inc(r0, R);
  });
  m.add(f);
}
