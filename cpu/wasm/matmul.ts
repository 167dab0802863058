/**
 * WebAssembly SIMD kernels of the forward matmul, plus helpers shared by the other kernel builders.
 *
 * - `mm_nt`: out[r, o] = Σ_c a[r, c] · w[o, c] (+ bias[o]), both operands contiguous along c (a = inp (N,C),
 *   w = weight (OC,C)). Register tile: R rows of `a` × S rows of `w`, R·S f32x4 accumulators running along c
 *   four lanes at a time, then reduced. Every output element is computed by the same sequence of operations
 *   whatever tile it falls in (lanes along c, the lane sum ((l0+l1)+(l2+l3)), the C % 4 tail in order, then the
 *   bias), so results do not depend on how the work is cut. No packing: rows are read in place, and the caller
 *   keeps a panel of weight rows in L2 while all inp rows pass.
 * - `colsum`: dst[j] += Σ_r src[r, j] in r order (dbias).
 *
 * The backward products are in `gemm.ts`. Pointers and strides are byte addresses in the shared memory 0;
 * counts are elements.
 *
 * @module
 */
import { F32, Fn, I32, V128 } from "./encoder.ts";
import type { ModuleBuilder } from "./binary.ts";
import { exportFn } from "./exports.ts";

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
export function addMatmulNT(m: ModuleBuilder, fma: Madd, { R, S }: { R: number; S: number }): void {
  const idx = new Map<string, number>();
  for (const [r, s] of [[R, S], [R, 1], [1, S], [1, 1]]) {
    const key = `${r}x${s}`;
    if (!idx.has(key)) idx.set(key, m.add(ntTile(r, s, fma)));
  }
  const [f, { out, inp, w, bias, hasBias, rows, cols, C, ldo: ldoElems }] = exportFn("mm_nt");
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

/**
 * Adds `colsum(dst, src, lds, rows, cols)`: dst[j] += Σ_r src[r·lds + j] for j < cols (lds in bytes), r in order.
 * Columns go in blocks of 1024 floats that stay in L1 while the rows stream past (rows can be 200 KiB apart).
 */
export function addColsum(m: ModuleBuilder): void {
  const [f, { dst, src, lds, rows, cols }] = exportFn("colsum");
  const j0 = f.local(I32), w = f.local(I32), r = f.local(I32), j = f.local(I32), p = f.local(I32), q = f.local(I32);
  const BLOCK = 1024;
  f.i32(0).set(j0);
  whileLoop(f, () => f.get(j0).get(cols).i32LtS(), () => {
    f.get(cols).get(j0).i32Sub().set(w);
    f.i32(BLOCK).get(w).get(w).i32(BLOCK).i32GtS().select().set(w); // min(BLOCK, cols - j0)
    f.i32(0).set(r);
    whileLoop(f, () => f.get(r).get(rows).i32LtS(), () => {
      f.get(src).get(r).get(lds).i32Mul().i32Add().get(j0).i32(2).i32Shl().i32Add().set(p);
      f.get(dst).get(j0).i32(2).i32Shl().i32Add().set(q);
      f.i32(0).set(j);
      whileLoop(f, () => f.get(j).i32(4).i32Add().get(w).i32LeS(), () => {
        f.get(q).get(q).v128Load().get(p).v128Load().f32x4Add().v128Store();
        f.inc(p, 16).inc(q, 16).inc(j, 4);
      });
      whileLoop(f, () => f.get(j).get(w).i32LtS(), () => {
        f.get(q).get(q).f32Load().get(p).f32Load().f32Add().f32Store();
        f.inc(p, 4).inc(q, 4).inc(j, 1);
      });
      f.inc(r, 1);
    });
    f.inc(j0, BLOCK);
  });
  m.add(f);
}
