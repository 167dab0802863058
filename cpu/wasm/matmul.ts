/**
 * WebAssembly SIMD matmul kernels, built as {@link Fn}s. Two shapes of product cover forward and backward:
 *
 * - `mm_nt`: out[r, o] = Σ_c a[r, c] · w[o, c] (+ bias[o]), both operands contiguous along c (the forward
 *   matmul: a = inp (N,C), w = weight (OC,C)). Register tile: R rows of `a` × S rows of `w`, R·S f32x4
 *   accumulators running along c four lanes at a time, then reduced. Every output element is computed by the
 *   same sequence of operations whatever tile it falls in (lanes along c, the lane sum ((l0+l1)+(l2+l3)), the
 *   C % 4 tail in order, then the bias), so results do not depend on how the work is cut.
 * - `mm_nn_*`: c[r, j] (=|+=) Σ_k a(r, k) · b[k, j], b and c contiguous along j (backward: dinp = dout · weight
 *   and dweight += doutᵀ · inp). Register tile: R rows × S f32x4 columns; per k, S vectors of b and R splats of
 *   a. Each element accumulates in k order from its starting value, so splitting k into blocks (store, reload)
 *   gives the same bits. `_kunit`: a(r, k) = a[r·sar + k] (dout rows, for dinp); `_runit`: a(r, k) = a[r +
 *   k·sak] (dout columns, for dweight).
 * - `colsum`: dst[j] += Σ_r src[r, j] in r order (dbias).
 *
 * Pointers and strides are byte addresses in the shared memory; counts are elements.
 *
 * @module
 */
import { F32, Fn, I32, type ModuleBuilder, V128 } from "./encoder.ts";

/** Tile sizes (register blocking) of the generated kernels. */
export interface MatmulTiles {
  /** mm_nt: rows of inp per tile. */
  ntR: number;
  /** mm_nt: rows of weight per tile. */
  ntS: number;
  /** mm_nn: rows of c per tile. */
  nnR: number;
  /** mm_nn: f32x4 columns of c per tile. */
  nnS: number;
}

/** Default tiles: 4×2 keeps 8 accumulators + 2 operands + 1 scratch within x64's 16 vector registers. */
export const DEFAULT_TILES: MatmulTiles = { ntR: 4, ntS: 2, nnR: 4, nnS: 2 };

/** Emits a * b + c for f32x4 operands pushed by the callbacks: relaxed_madd if available, else mul then add. */
export type Madd = (f: Fn, a: () => void, b: () => void, c: () => void) => void;

/** The multiply-add used by every vector kernel (one choice per module, so results are consistent). */
export function madd(relaxed: boolean): Madd {
  return relaxed
    ? (f, a, b, c) => {
      a();
      b();
      c();
      f.f32x4RelaxedMadd();
    }
    : (f, a, b, c) => {
      c();
      a();
      b();
      f.f32x4Mul().f32x4Add();
    };
}

/** Pushes the sum of the four lanes of local `v` as ((l0 + l1) + (l2 + l3)). */
export function hsum(f: Fn, v: number): void {
  f.get(v).f32x4ExtractLane(0).get(v).f32x4ExtractLane(1).f32Add();
  f.get(v).f32x4ExtractLane(2).get(v).f32x4ExtractLane(3).f32Add().f32Add();
}

/** `while (cond) body` as block/loop; `cond` pushes an i32. */
export function whileLoop(f: Fn, cond: () => void, body: () => void): void {
  f.block((exit) => {
    f.loop((top) => {
      cond();
      f.i32Eqz().brIf(exit);
      body();
      f.br(top);
    });
  });
}

// mm_nt tile: params a, lda, w, ldw, out, ldo, c4 (bytes of the vector part), tail (elements), bias, hasBias.
function ntTile(R: number, S: number, fma: Madd): Fn {
  const f = new Fn(`nt_tile_${R}x${S}`, Array(10).fill(I32), []);
  const [a, lda, w, ldw, out, ldo, c4, tail, bias, hasBias] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const pa = Array.from({ length: R }, () => f.local(I32));
  const pw = Array.from({ length: S }, () => f.local(I32));
  const k = f.local(I32), c8 = f.local(I32), t = f.local(I32);
  const acc = Array.from({ length: R * S }, () => f.local(V128));
  const wv = Array.from({ length: S }, () => f.local(V128));
  const av = f.local(V128);
  const sum = f.local(F32);
  for (let r = 0; r < R; r++) f.get(a).get(lda).i32(r).i32Mul().i32Add().set(pa[r]);
  for (let s = 0; s < S; s++) f.get(w).get(ldw).i32(s).i32Mul().i32Add().set(pw[s]);
  for (const x of acc) f.f32x4Const(0).set(x);
  // One 4-lane step at byte offset `off` from the row pointers.
  const step = (off: number) => {
    for (let s = 0; s < S; s++) f.get(pw[s]).v128Load(off).set(wv[s]);
    for (let r = 0; r < R; r++) {
      f.get(pa[r]).v128Load(off).set(av);
      for (let s = 0; s < S; s++) {
        fma(f, () => f.get(av), () => f.get(wv[s]), () => f.get(acc[r * S + s]));
        f.set(acc[r * S + s]);
      }
    }
  };
  const advance = (bytes: number) => {
    for (const p of [...pa, ...pw]) f.inc(p, bytes);
  };
  // U 4-lane steps per iteration while 4U floats remain, then single steps; the row pointers advance, k
  // counts bytes done. The lane sums run in c order either way.
  const U = 4;
  f.i32(0).set(k);
  f.get(c4).i32(-16 * U).i32And().set(c8);
  whileLoop(f, () => f.get(k).get(c8).i32LtU(), () => {
    for (let u = 0; u < U; u++) step(16 * u);
    advance(16 * U);
    f.inc(k, 16 * U);
  });
  whileLoop(f, () => f.get(k).get(c4).i32LtU(), () => {
    step(0);
    advance(16);
    f.inc(k, 16);
  });
  for (let r = 0; r < R; r++) {
    for (let s = 0; s < S; s++) {
      hsum(f, acc[r * S + s]);
      f.set(sum);
      f.i32(0).set(t);
      whileLoop(f, () => f.get(t).get(tail).i32LtS(), () => {
        f.get(sum);
        f.get(pa[r]).get(t).i32(2).i32Shl().i32Add().f32Load(); // the pointers stopped at c4
        f.get(pw[s]).get(t).i32(2).i32Shl().i32Add().f32Load();
        f.f32Mul().f32Add().set(sum);
        f.inc(t, 1);
      });
      f.get(hasBias).if(() => f.get(sum).get(bias).f32Load(s * 4).f32Add().set(sum));
      f.get(out).get(ldo).i32(r).i32Mul().i32Add().get(sum).f32Store(s * 4);
    }
  }
  return f;
}

/**
 * Adds `mm_nt(out, inp, w, bias, hasBias, rows, cols, C, ldo)` and its tiles: out[r, o] for r < rows, o < cols,
 * inp rows and w rows of C floats, out rows `ldo` floats apart; bias read only if hasBias.
 */
export function addMatmulNT(m: ModuleBuilder, fma: Madd, tiles: MatmulTiles): void {
  const { ntR: R, ntS: S } = tiles;
  const idx = new Map<string, number>();
  for (const [r, s] of [[R, S], [R, 1], [1, S], [1, 1]]) {
    const key = `${r}x${s}`;
    if (!idx.has(key)) idx.set(key, m.add(ntTile(r, s, fma)));
  }
  const f = new Fn("mm_nt", Array(9).fill(I32), []);
  const [out, inp, w, bias, hasBias, rows, cols, C, ldoElems] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const ld = f.local(I32), ldo = f.local(I32), c4 = f.local(I32), tail = f.local(I32);
  const n = f.local(I32), o = f.local(I32);
  f.get(C).i32(2).i32Shl().set(ld);
  f.get(ldoElems).i32(2).i32Shl().set(ldo);
  f.get(C).i32(-4).i32And().i32(2).i32Shl().set(c4);
  f.get(C).i32(3).i32And().set(tail);
  const callTile = (r: number, s: number) => {
    f.get(inp).get(n).get(ld).i32Mul().i32Add().get(ld);
    f.get(w).get(o).get(ld).i32Mul().i32Add().get(ld);
    f.get(out).get(n).get(ldo).i32Mul().i32Add().get(o).i32(2).i32Shl().i32Add().get(ldo);
    f.get(c4).get(tail).get(bias).get(o).i32(2).i32Shl().i32Add().get(hasBias);
    f.call(idx.get(`${r}x${s}`)!);
    f.inc(o, s);
  };
  const rowPass = (r: number) => {
    f.i32(0).set(o);
    whileLoop(f, () => f.get(o).i32(S).i32Add().get(cols).i32LeS(), () => callTile(r, S));
    whileLoop(f, () => f.get(o).get(cols).i32LtS(), () => callTile(r, 1));
    f.inc(n, r);
  };
  f.i32(0).set(n);
  whileLoop(f, () => f.get(n).i32(R).i32Add().get(rows).i32LeS(), () => rowPass(R));
  whileLoop(f, () => f.get(n).get(rows).i32LtS(), () => rowPass(1));
  m.add(f);
}

// mm_nn tile: params c, ldc, a, sar, sak, b, ldb, K, accumulate. S f32x4 columns (or one scalar column if
// scalar), R rows.
function nnTile(R: number, S: number, scalar: boolean, kUnit: boolean, fma: Madd): Fn {
  const f = new Fn(`nn_tile_${kUnit ? "k" : "r"}_${R}x${scalar ? "s" : S}`, Array(9).fill(I32), []);
  const [c, ldc, a, sar, sak, b, ldb, K, accumulate] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const T = scalar ? F32 : V128;
  const pa = Array.from({ length: kUnit ? R : 1 }, () => f.local(I32));
  const k = f.local(I32);
  const acc = Array.from({ length: R * S }, () => f.local(T));
  const bv = Array.from({ length: S }, () => f.local(T));
  const av = f.local(T);
  for (let i = 0; i < pa.length; i++) f.get(a).get(sar).i32(i).i32Mul().i32Add().set(pa[i]);
  const cAddr = (r: number) => f.get(c).get(ldc).i32(r).i32Mul().i32Add();
  f.get(accumulate).if(() => {
    for (let r = 0; r < R; r++) {
      for (let s = 0; s < S; s++) {
        cAddr(r);
        if (scalar) f.f32Load(s * 4);
        else f.v128Load(s * 16);
        f.set(acc[r * S + s]);
      }
    }
  }, () => {
    for (const x of acc) (scalar ? f.f32(0) : f.f32x4Const(0)).set(x);
  });
  // One k step; `u` is the position inside an unrolled group (kUnit reads a at constant offsets u·4).
  const step = (u: number) => {
    for (let s = 0; s < S; s++) {
      f.get(b);
      if (scalar) f.f32Load(s * 4);
      else f.v128Load(s * 16);
      f.set(bv[s]);
    }
    for (let r = 0; r < R; r++) {
      if (kUnit) f.get(pa[r]);
      else f.get(pa[0]);
      const off = kUnit ? u * 4 : r * 4;
      if (scalar) f.f32Load(off);
      else f.load32Splat(off);
      f.set(av);
      for (let s = 0; s < S; s++) {
        const x = acc[r * S + s];
        if (scalar) f.get(x).get(av).get(bv[s]).f32Mul().f32Add().set(x);
        else {
          fma(f, () => f.get(av), () => f.get(bv[s]), () => f.get(x));
          f.set(x);
        }
      }
    }
    f.incBy(b, ldb);
    if (!kUnit) f.incBy(pa[0], sak);
  };
  const U = kUnit ? 4 : 2;
  f.i32(0).set(k);
  whileLoop(f, () => f.get(k).i32(U).i32Add().get(K).i32LeS(), () => {
    for (let u = 0; u < U; u++) step(u);
    if (kUnit) for (const p of pa) f.inc(p, 4 * U);
    f.inc(k, U);
  });
  whileLoop(f, () => f.get(k).get(K).i32LtS(), () => {
    step(0);
    if (kUnit) for (const p of pa) f.inc(p, 4);
    f.inc(k, 1);
  });
  for (let r = 0; r < R; r++) {
    for (let s = 0; s < S; s++) {
      cAddr(r).get(acc[r * S + s]);
      if (scalar) f.f32Store(s * 4);
      else f.v128Store(s * 16);
    }
  }
  return f;
}

/**
 * Adds `mm_nn_kunit` and `mm_nn_runit` (c, ldc, a, sar, sak, b, ldb, rows, cols, K, accumulate): c[r, j] for
 * r < rows, j < cols; all strides in bytes; accumulate 0 writes, 1 adds to c. Columns run in tiles of S·4, then
 * 4, then one at a time (the last cols % 4 columns, in scalar code).
 */
export function addMatmulNN(m: ModuleBuilder, fma: Madd, tiles: MatmulTiles): void {
  const { nnR: R, nnS: S } = tiles;
  for (const kUnit of [true, false]) {
    const tile = new Map<string, number>();
    for (const r of new Set([R, 1])) {
      for (const s of new Set([S, 1])) tile.set(`${r}x${s}`, m.add(nnTile(r, s, false, kUnit, fma)));
      tile.set(`${r}xs`, m.add(nnTile(r, 1, true, kUnit, fma)));
    }
    const f = new Fn(kUnit ? "mm_nn_kunit" : "mm_nn_runit", Array(11).fill(I32), []);
    const [c, ldc, a, sar, sak, b, ldb, rows, cols, K, accumulate] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    const n = f.local(I32), j = f.local(I32);
    const callTile = (r: number, s: number | "s", width: number) => {
      f.get(c).get(n).get(ldc).i32Mul().i32Add().get(j).i32(2).i32Shl().i32Add().get(ldc);
      f.get(a).get(n).get(sar).i32Mul().i32Add().get(sar).get(sak);
      f.get(b).get(j).i32(2).i32Shl().i32Add().get(ldb).get(K).get(accumulate);
      f.call(tile.get(`${r}x${s}`)!);
      f.inc(j, width);
    };
    const rowPass = (r: number) => {
      f.i32(0).set(j);
      whileLoop(f, () => f.get(j).i32(4 * S).i32Add().get(cols).i32LeS(), () => callTile(r, S, 4 * S));
      if (S > 1) whileLoop(f, () => f.get(j).i32(4).i32Add().get(cols).i32LeS(), () => callTile(r, 1, 4));
      whileLoop(f, () => f.get(j).get(cols).i32LtS(), () => callTile(r, "s", 1));
      f.inc(n, r);
    };
    f.i32(0).set(n);
    whileLoop(f, () => f.get(n).i32(R).i32Add().get(rows).i32LeS(), () => rowPass(R));
    whileLoop(f, () => f.get(n).get(rows).i32LtS(), () => rowPass(1));
    m.add(f);
  }
}

/** Adds `colsum(dst, src, lds, rows, cols)`: dst[j] += Σ_r src[r·lds + j] for j < cols, r in order (lds bytes). */
export function addColsum(m: ModuleBuilder): void {
  const f = new Fn("colsum", Array(5).fill(I32), []);
  const [dst, src, lds, rows, cols] = [0, 1, 2, 3, 4];
  const j = f.local(I32), r = f.local(I32), p = f.local(I32);
  const acc = Array.from({ length: 4 }, () => f.local(V128));
  const s = f.local(F32);
  const run = (width: number, vectors: number) => {
    // Columns j..j+width: `vectors` f32x4 accumulators, or one scalar when width is 1.
    whileLoop(f, () => f.get(j).i32(width).i32Add().get(cols).i32LeS(), () => {
      f.get(src).get(j).i32(2).i32Shl().i32Add().set(p);
      if (vectors) {
        for (let v = 0; v < vectors; v++) f.get(dst).get(j).i32(2).i32Shl().i32Add().v128Load(16 * v).set(acc[v]);
      } else f.get(dst).get(j).i32(2).i32Shl().i32Add().f32Load().set(s);
      f.i32(0).set(r);
      whileLoop(f, () => f.get(r).get(rows).i32LtS(), () => {
        if (vectors) {
          for (let v = 0; v < vectors; v++) f.get(acc[v]).get(p).v128Load(16 * v).f32x4Add().set(acc[v]);
        } else f.get(s).get(p).f32Load().f32Add().set(s);
        f.incBy(p, lds).inc(r, 1);
      });
      if (vectors) {
        for (let v = 0; v < vectors; v++) f.get(dst).get(j).i32(2).i32Shl().i32Add().get(acc[v]).v128Store(16 * v);
      } else f.get(dst).get(j).i32(2).i32Shl().i32Add().get(s).f32Store();
      f.inc(j, width);
    });
  };
  f.i32(0).set(j);
  run(16, 4);
  run(4, 1);
  run(1, 0);
  m.add(f);
}
