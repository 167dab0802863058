/**
 * Every form of `matmul` (layers/matmul.ts) on awkward sizes, outputs NaN-poisoned, dweight and dbias starting
 * from non-zero values to check that they accumulate:
 * - `cpu`, the scalar reference: forward against a float64 definition, backward against finite differences;
 * - `wasm` (`CpuKernels`): against float64 references with Σ|terms| tolerances (tests/cpu/_wasm.ts), and against
 *   the scalar reference;
 * - `gpu`: in tests/layers/matmul_gpu_test.ts.
 */
import { CpuKernels } from "../../cpu/kernels.ts";
import { matmulBackward, matmulForward } from "../../layers/matmul.ts";
import { assertClose } from "../_assert.ts";
import { randn, rng } from "../_random.ts";
import { Arena, assertSame, sums, TINY_BLOCKS } from "../cpu/_wasm.ts";
import { dot, f64, finiteDifferences, minus, poisoned } from "./_check.ts";

// ---- cpu: the scalar reference ----

/** Float64 out[n,o] = Σ_c inp[n,c]·w[o,c] + b[o], written from the definition. */
function reference(
  inp: ArrayLike<number>,
  w: ArrayLike<number>,
  b: ArrayLike<number> | undefined,
  N: number,
  C: number,
  OC: number,
): Float64Array {
  const out = new Float64Array(N * OC);
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < OC; o++) {
      let s = b ? b[o] : 0;
      for (let c = 0; c < C; c++) s += inp[n * C + c] * w[o * C + c];
      out[n * OC + o] = s;
    }
  }
  return out;
}

for (const [N, C, OC, withBias] of [[7, 30, 13, true], [1, 30, 90, true], [5, 3, 1, false]] as const) {
  Deno.test(`matmul N=${N} C=${C} OC=${OC}${withBias ? "" : " no bias"}: forward and backward`, () => {
    const r = rng(N * 1000 + C * 10 + OC);
    const inp = randn(r, N * C), weight = randn(r, OC * C), bias = withBias ? randn(r, OC) : undefined;
    const out = poisoned(N * OC);
    matmulForward({ out, inp, weight, bias }, { N, C, OC });
    // float64 dot products, one float32 rounding: relative 6e-8 of the O(√C) result.
    assertClose(out, reference(inp, weight, bias, N, C, OC), { atol: 1e-6, rtol: 1e-6 }, "out");

    const dout = randn(r, N * OC);
    const dweight0 = randn(r, OC * C), dbias0 = randn(r, OC);
    const dinp = poisoned(N * C), dweight = dweight0.slice(), dbias = withBias ? dbias0.slice() : undefined;
    matmulBackward({ dinp, dweight, dbias, dout, inp, weight }, { N, C, OC });
    const J = (i: ArrayLike<number>, w: ArrayLike<number>, b?: ArrayLike<number>) =>
      dot(reference(i, w, b, N, C, OC), dout);
    // The objective is linear, so finite differences are exact up to rounding (~1e-10).
    const tol = { atol: 1e-5, rtol: 1e-5 };
    assertClose(dinp, finiteDifferences((x) => J(x, weight, bias), f64(inp)), tol, "dinp (written)");
    const fdW = finiteDifferences((w) => J(inp, w, bias), f64(weight));
    assertClose(minus(dweight, dweight0), fdW, tol, "dweight (accumulated)");
    if (withBias) {
      const fdB = finiteDifferences((b) => J(inp, weight, b), f64(bias!));
      assertClose(minus(dbias!, dbias0), fdB, tol, "dbias (accumulated)");
    }
  });
}

// ---- wasm: CpuKernels ----

// float64 references: value and Σ|terms| for each output

function refMatmulForward(
  inp: Float32Array,
  w: Float32Array,
  bias: Float32Array | undefined,
  N: number,
  C: number,
  OC: number,
) {
  const out = new Float64Array(N * OC), mag = new Float64Array(N * OC);
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < OC; o++) {
      let s = bias ? bias[o] : 0, m = Math.abs(s);
      for (let c = 0; c < C; c++) {
        const t = inp[n * C + c] * w[o * C + c];
        s += t;
        m += Math.abs(t);
      }
      out[n * OC + o] = s;
      mag[n * OC + o] = m;
    }
  }
  return { out, mag };
}

function refMatmulBackward(
  dout: Float32Array,
  inp: Float32Array,
  w: Float32Array,
  dw0: Float32Array,
  db0: Float32Array,
  N: number,
  C: number,
  OC: number,
) {
  const dinp = new Float64Array(N * C), dinpMag = new Float64Array(N * C);
  const dw = Float64Array.from(dw0), dwMag = Float64Array.from(dw0, Math.abs);
  const db = Float64Array.from(db0), dbMag = Float64Array.from(db0, Math.abs);
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < OC; o++) {
      const d = dout[n * OC + o];
      db[o] += d;
      dbMag[o] += Math.abs(d);
      for (let c = 0; c < C; c++) {
        const t1 = d * w[o * C + c], t2 = d * inp[n * C + c];
        dinp[n * C + c] += t1;
        dinpMag[n * C + c] += Math.abs(t1);
        dw[o * C + c] += t2;
        dwMag[o * C + c] += Math.abs(t2);
      }
    }
  }
  return { dinp, dinpMag, dw, dwMag, db, dbMag };
}

const MATMUL_SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [1, 30, 5],
  [7, 30, 97],
  [33, 65, 1],
  [33, 64, 128],
  [7, 65, 128],
  [33, 30, 5],
  [70, 67, 97],
  [9, 259, 33],
];

for (const [relaxed, tiny] of [[true, false], [false, false], [true, true]]) {
  const what = `relaxed SIMD ${relaxed}, ${tiny ? "tiny" : "default"} cache blocks`;
  Deno.test(`CpuKernels matmulForward/Backward match a float64 reference on awkward sizes (${what})`, async () => {
    const A = new Arena();
    // parallelMinFlops 0: even tiny jobs are cut into items and shared with the Workers.
    const blocking = tiny ? TINY_BLOCKS : {};
    const k = await CpuKernels.create(A.memory, 3, { parallelMinFlops: 0, relaxed, blocking });
    try {
      for (const [N, C, OC] of MATMUL_SHAPES) {
        for (const withBias of [true, false]) {
          A.reset();
          const tag = `N=${N} C=${C} OC=${OC}${withBias ? "" : " no bias"}`;
          const inp = A.random(N * C), weight = A.random(OC * C), bias = withBias ? A.random(OC) : undefined;
          const out = A.poisoned(N * OC);
          k.matmulForward({ out, inp, weight, bias }, { N, C, OC });
          const f = refMatmulForward(inp, weight, bias, N, C, OC);
          assertClose(out, f.out, sums(f.mag), `out ${tag}`);
          // Backward: dinp poisoned (written), dweight/dbias start non-zero (accumulated).
          const dout = A.random(N * OC), dinp = A.poisoned(N * C);
          const dweight = A.random(OC * C), dbias = withBias ? A.random(OC) : undefined;
          const dw0 = dweight.slice(), db0 = dbias ? dbias.slice() : new Float32Array(OC);
          k.matmulBackward({ dinp, dweight, dbias, dout, inp, weight }, { N, C, OC });
          const r = refMatmulBackward(dout, inp, weight, dw0, db0, N, C, OC);
          assertClose(dinp, r.dinp, sums(r.dinpMag), `dinp ${tag}`);
          assertClose(dweight, r.dw, sums(r.dwMag), `dweight ${tag}`);
          if (dbias) assertClose(dbias, r.db, sums(r.dbMag), `dbias ${tag}`);
        }
      }
    } finally {
      k.close();
    }
  });
}

Deno.test("CpuKernels matmul agrees with the scalar reference layer (layers/matmul.ts)", async () => {
  const A = new Arena();
  const k = await CpuKernels.create(A.memory, 2);
  try {
    for (const [N, C, OC] of [[7, 30, 97], [33, 65, 5]]) {
      A.reset();
      const inp = A.random(N * C), weight = A.random(OC * C), bias = A.random(OC), dout = A.random(N * OC);
      const out = A.poisoned(N * OC), want = new Float32Array(N * OC);
      k.matmulForward({ out, inp, weight, bias }, { N, C, OC });
      matmulForward({ out: want, inp, weight, bias }, { N, C, OC });
      const f = refMatmulForward(inp, weight, bias, N, C, OC);
      assertClose(out, Float64Array.from(want), sums(f.mag), `out vs layers N=${N} C=${C} OC=${OC}`);
      const dinp = A.poisoned(N * C), dweight = A.random(OC * C), dbias = A.random(OC);
      const wDinp = new Float32Array(N * C), wDweight = dweight.slice(), wDbias = dbias.slice();
      const r = refMatmulBackward(dout, inp, weight, dweight, dbias, N, C, OC);
      k.matmulBackward({ dinp, dweight, dbias, dout, inp, weight }, { N, C, OC });
      matmulBackward({ dinp: wDinp, dweight: wDweight, dbias: wDbias, dout, inp, weight }, { N, C, OC });
      assertClose(dinp, Float64Array.from(wDinp), sums(r.dinpMag), "dinp vs layers");
      assertClose(dweight, Float64Array.from(wDweight), sums(r.dwMag), "dweight vs layers");
      assertClose(dbias, Float64Array.from(wDbias), sums(r.dbMag), "dbias vs layers");
    }
  } finally {
    k.close();
  }
});

Deno.test("CpuKernels matmulBackward: dweight and dbias accumulate, dinp is overwritten", async () => {
  const A = new Arena();
  const k = await CpuKernels.create(A.memory, 2, { parallelMinFlops: 0 });
  try {
    const [N, C, OC] = [9, 30, 13];
    const inp = A.random(N * C), weight = A.random(OC * C), dout = A.random(N * OC);
    const dinp = A.random(N * C), dweight = A.alloc(OC * C).fill(0), dbias = A.alloc(OC).fill(0);
    k.matmulBackward({ dinp, dweight, dbias, dout, inp, weight }, { N, C, OC });
    const [dinp1, dweight1, dbias1] = [dinp.slice(), dweight.slice(), dbias.slice()];
    k.matmulBackward({ dinp, dweight, dbias, dout, inp, weight }, { N, C, OC });
    assertSame("dinp after a second call", dinp, dinp1);
    const twice = (a: Float32Array) => Float64Array.from(a, (x) => 2 * x);
    assertClose(dweight, twice(dweight1), sums(Float64Array.from(dweight1, Math.abs)), "dweight after two calls");
    assertClose(dbias, twice(dbias1), sums(Float64Array.from(dbias1, Math.abs)), "dbias after two calls");
  } finally {
    k.close();
  }
});
