/**
 * CpuKernels (WebAssembly SIMD over Workers) against straightforward float64 references written here, and against
 * the scalar reference layers in `layers/`: awkward sizes, outputs poisoned with NaN, accumulation semantics, and
 * bit-identical results for 1, 2 and 3 threads.
 *
 * Tolerance: |got - want| <= 1e-5 · (1 + Σ|terms|) per element, where Σ|terms| is the sum of the absolute values
 * of the products being added (computed alongside the float64 reference). float32 rounds each of at most a few
 * thousand additions with relative error 2^-24 ≈ 6e-8, so even sequential worst-case error stays well below
 * 1e-5 of Σ|terms| at these sizes; a wrong index or a missed term is O(1) off.
 */
import { CpuKernels } from "../../cpu/kernels.ts";
import { attentionBackward, attentionForward } from "../../layers/attention.ts";
import { matmulBackward, matmulForward } from "../../layers/matmul.ts";
import { assertClose } from "../_assert.ts";
import { fillUniform, rng } from "../_random.ts";

const RTOL = 1e-5; // relative to 1 + Σ|terms| (see the module comment)

/** A bump allocator of Float32Array views in one shared memory. */
class Arena {
  readonly memory = new WebAssembly.Memory({ initial: 256, maximum: 256, shared: true }); // 16 MiB
  #cursor = 64; // keep address 0 unused
  #rng = rng(12345);
  alloc(n: number): Float32Array {
    const a = new Float32Array(this.memory.buffer, this.#cursor, n);
    this.#cursor += Math.ceil((n * 4) / 64) * 64 + 64 * (n % 3); // vary alignment a little
    return a;
  }
  random(n: number, scale = 1): Float32Array {
    return fillUniform(this.#rng, this.alloc(n), scale);
  }
  poisoned(n: number): Float32Array {
    return this.alloc(n).fill(NaN);
  }
  reset(): void {
    this.#cursor = 64;
  }
}

/** |got - want| <= RTOL · (1 + mag[i]) per element, mag being Σ|terms| from the float64 reference. */
function sums(mag: Float64Array) {
  return { atol: RTOL, rtol: RTOL, magnitude: mag };
}

function assertSame(what: string, a: Float32Array, b: Float32Array): void {
  for (let i = 0; i < a.length; i++) {
    if (!Object.is(a[i], b[i])) throw new Error(`${what}[${i}]: ${a[i]} !== ${b[i]}`);
  }
}

// ---- float64 references: value and Σ|terms| for each output ----

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

/** Cache blocks far below the defaults: many k, column and row blocks even at test sizes. */
const TINY_BLOCKS = { fwdPanelBytes: 1, gemmPanelBytes: 2048, dinpCols: 8, dweightK: 5 };

for (const [relaxed, tiny] of [[true, false], [false, false], [true, true]]) {
  const what = `relaxed SIMD ${relaxed}, ${tiny ? "tiny" : "default"} cache blocks`;
  Deno.test(`matmulForward/Backward match a float64 reference on awkward sizes (${what})`, async () => {
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

// ---- attention ----

function refAttention(inp: Float32Array, dout: Float32Array, B: number, T: number, C: number, NH: number) {
  const hs = C / NH, scale = 1 / Math.sqrt(hs), C3 = 3 * C;
  const out = new Float64Array(B * T * C), outMag = new Float64Array(B * T * C);
  const att = new Float64Array(B * NH * T * T), preatt = new Float64Array(B * NH * T * T);
  const dinp = new Float64Array(B * T * C3), dinpMag = new Float64Array(B * T * C3);
  const q = (b: number, t: number, h: number, i: number) => inp[(b * T + t) * C3 + h * hs + i];
  const kk = (b: number, t: number, h: number, i: number) => inp[(b * T + t) * C3 + C + h * hs + i];
  const v = (b: number, t: number, h: number, i: number) => inp[(b * T + t) * C3 + 2 * C + h * hs + i];
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < NH; h++) {
      for (let t = 0; t < T; t++) {
        const row = ((b * NH + h) * T + t) * T;
        let max = -Infinity;
        for (let t2 = 0; t2 <= t; t2++) {
          let s = 0;
          for (let i = 0; i < hs; i++) s += q(b, t, h, i) * kk(b, t2, h, i);
          preatt[row + t2] = s * scale;
          max = Math.max(max, s * scale);
        }
        let sum = 0;
        for (let t2 = 0; t2 <= t; t2++) sum += Math.exp(preatt[row + t2] - max);
        for (let t2 = 0; t2 <= t; t2++) att[row + t2] = Math.exp(preatt[row + t2] - max) / sum;
        for (let i = 0; i < hs; i++) {
          let s = 0, m = 0;
          for (let t2 = 0; t2 <= t; t2++) {
            s += att[row + t2] * v(b, t2, h, i);
            m += Math.abs(att[row + t2] * v(b, t2, h, i));
          }
          out[(b * T + t) * C + h * hs + i] = s;
          outMag[(b * T + t) * C + h * hs + i] = m;
        }
        // Backward for this row, accumulated into dinp (float64).
        const datt = new Float64Array(T);
        const d = (i: number) => dout[(b * T + t) * C + h * hs + i];
        let wsum = 0;
        for (let t2 = 0; t2 <= t; t2++) {
          for (let i = 0; i < hs; i++) {
            datt[t2] += v(b, t2, h, i) * d(i);
            const j = (b * T + t2) * C3 + 2 * C + h * hs + i;
            dinp[j] += att[row + t2] * d(i);
            dinpMag[j] += Math.abs(att[row + t2] * d(i));
          }
          wsum += att[row + t2] * datt[t2];
        }
        for (let t2 = 0; t2 <= t; t2++) {
          const g = att[row + t2] * (datt[t2] - wsum) * scale;
          for (let i = 0; i < hs; i++) {
            const jq = (b * T + t) * C3 + h * hs + i, jk = (b * T + t2) * C3 + C + h * hs + i;
            dinp[jq] += g * kk(b, t2, h, i);
            dinpMag[jq] += Math.abs(g * kk(b, t2, h, i)) * 10; // g itself carries rounding from datt
            dinp[jk] += g * q(b, t, h, i);
            dinpMag[jk] += Math.abs(g * q(b, t, h, i)) * 10;
          }
        }
      }
    }
  }
  return { out, outMag, att, preatt, dinp, dinpMag };
}

const ATTENTION_SHAPES: [number, number, number, number][] = [
  [1, 1, 4, 1],
  [2, 7, 30, 3],
  [1, 7, 12, 3],
  [2, 9, 64, 4],
  [1, 5, 3, 3],
  [2, 1, 30, 3],
];

Deno.test("attentionForward/Backward match a float64 reference on awkward sizes", async () => {
  const A = new Arena();
  const k = await CpuKernels.create(A.memory, 3, { parallelMinFlops: 0 });
  try {
    for (const [B, T, C, NH] of ATTENTION_SHAPES) {
      A.reset();
      const tag = `B=${B} T=${T} C=${C} NH=${NH}`;
      const inp = A.random(B * T * 3 * C, 2), dout = A.random(B * T * C);
      const out = A.poisoned(B * T * C), preatt = A.poisoned(B * NH * T * T), att = A.poisoned(B * NH * T * T);
      k.attentionForward({ out, preatt, att, inp }, { B, T, C, NH });
      const r = refAttention(inp, dout, B, T, C, NH);
      assertClose(out, r.out, sums(r.outMag), `out ${tag}`);
      // att: probabilities in [0, 1] (zero above the diagonal); preatt only on and below it.
      assertClose(att, r.att, { atol: RTOL }, `att ${tag}`);
      const lower = (i: number) => i % T <= Math.floor(i / T) % T; // t2 <= t of element i of (B,NH,T,T)
      assertClose(preatt, r.preatt, { atol: 10 * RTOL, rtol: 10 * RTOL, mask: lower }, `preatt ${tag}`);
      const dinp = A.poisoned(B * T * 3 * C), dpreatt = A.poisoned(B * NH * T * T), datt = A.poisoned(B * NH * T * T);
      k.attentionBackward({ dinp, dpreatt, datt, dout, inp, att }, { B, T, C, NH });
      assertClose(dinp, r.dinp, sums(r.dinpMag), `dinp ${tag}`);
    }
  } finally {
    k.close();
  }
});

Deno.test("CpuKernels agree with the scalar reference layers (layers/matmul.ts, layers/attention.ts)", async () => {
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
    for (const [B, T, C, NH] of [[2, 7, 30, 3], [1, 9, 64, 4]]) {
      A.reset();
      const s = { B, T, C, NH };
      const inp = A.random(B * T * 3 * C, 2), dout = A.random(B * T * C);
      const out = A.poisoned(B * T * C), preatt = A.poisoned(B * NH * T * T), att = A.poisoned(B * NH * T * T);
      const wOut = new Float32Array(out.length), wPre = new Float32Array(preatt.length);
      const wAtt = new Float32Array(att.length);
      k.attentionForward({ out, preatt, att, inp }, s);
      attentionForward({ out: wOut, preatt: wPre, att: wAtt, inp }, s);
      const r = refAttention(inp, dout, B, T, C, NH);
      assertClose(out, Float64Array.from(wOut), sums(r.outMag), "attention out vs layers");
      assertClose(att, Float64Array.from(wAtt), { atol: RTOL }, "att vs layers");
      assertClose(
        preatt,
        Float64Array.from(wPre),
        sums(Float64Array.from(wPre, (x) => 10 * Math.abs(x))),
        "preatt vs layers",
      );
      const dinp = A.poisoned(B * T * 3 * C), wDinp = new Float32Array(dinp.length);
      const scratch = () => A.poisoned(B * NH * T * T);
      k.attentionBackward({ dinp, dpreatt: scratch(), datt: scratch(), dout, inp, att }, s);
      attentionBackward({ dinp: wDinp, dpreatt: scratch(), datt: scratch(), dout, inp, att: wAtt }, s);
      assertClose(dinp, Float64Array.from(wDinp), sums(r.dinpMag), "attention dinp vs layers");
    }
  } finally {
    k.close();
  }
});

Deno.test("dweight and dbias accumulate, dinp is overwritten", async () => {
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

Deno.test("results are bit-identical for 1, 2 and 3 threads, any cache blocking, repeated calls", async () => {
  const A = new Arena();
  const [N, C, OC] = [70, 131, 301], [B, T, AC, NH] = [3, 7, 30, 3];
  const inp = A.random(N * C), weight = A.random(OC * C), bias = A.random(OC), dout = A.random(N * OC);
  const qkv = A.random(B * T * 3 * AC, 2), adout = A.random(B * T * AC);
  const out = A.alloc(N * OC), dinp = A.alloc(N * C), dweight = A.alloc(OC * C), dbias = A.alloc(OC);
  const aout = A.alloc(B * T * AC), preatt = A.alloc(B * NH * T * T), att = A.alloc(B * NH * T * T);
  const adinp = A.alloc(B * T * 3 * AC), dpreatt = A.alloc(B * NH * T * T), datt = A.alloc(B * NH * T * T);
  const outputs = [out, dinp, dweight, dbias, aout, preatt, att, adinp];
  const names = ["out", "dinp", "dweight", "dbias", "attention out", "preatt", "att", "attention dinp"];
  let first: Float32Array[] | undefined;
  for (const [threads, blocking] of [[1, {}], [2, {}], [3, {}], [2, TINY_BLOCKS]] as const) {
    const k = await CpuKernels.create(A.memory, threads, { parallelMinFlops: 0, blocking });
    try {
      for (let rep = 0; rep < 3; rep++) {
        for (const o of outputs) o.fill(NaN);
        dweight.fill(0.5);
        dbias.fill(0.25);
        k.matmulForward({ out, inp, weight, bias }, { N, C, OC });
        k.matmulBackward({ dinp, dweight, dbias, dout, inp, weight }, { N, C, OC });
        k.attentionForward({ out: aout, preatt, att, inp: qkv }, { B, T, C: AC, NH });
        k.attentionBackward({ dinp: adinp, dpreatt, datt, dout: adout, inp: qkv, att }, { B, T, C: AC, NH });
        if (!first) first = outputs.map((o) => o.slice());
        else {
          const how = `${threads} threads, ${blocking === TINY_BLOCKS ? "tiny" : "default"} blocks, call ${rep + 1}`;
          outputs.forEach((o, i) => assertSame(`${names[i]} (${how})`, o, first![i]));
        }
      }
      if (threads > 1 && k.workerItems === 0) throw new Error(`${threads} threads: the Workers ran no work items`);
    } finally {
      k.close();
    }
  }
});

Deno.test("CpuKernels rejects arrays outside its memory and arrays too short", async () => {
  const A = new Arena();
  const k = await CpuKernels.create(A.memory, 1);
  try {
    const inp = A.random(6), weight = A.random(6), out = A.alloc(6);
    const expectThrow = (f: () => void, pattern: RegExp) => {
      try {
        f();
      } catch (e) {
        if (pattern.test((e as Error).message)) return;
        throw e;
      }
      throw new Error(`expected an error matching ${pattern}`);
    };
    expectThrow(
      () => k.matmulForward({ out: new Float32Array(4), inp, weight }, { N: 2, C: 3, OC: 2 }),
      /out must be a Float32Array view of the kernels' shared WebAssembly.Memory/,
    );
    expectThrow(() => k.matmulForward({ out, inp, weight }, { N: 3, C: 3, OC: 2 }), /inp has 6 elements, needs 9/);
    expectThrow(() => k.matmulForward({ out, inp, weight }, { N: 2, C: 0, OC: 2 }), /C must be a positive integer/);
    k.matmulForward({ out, inp, weight }, { N: 2, C: 3, OC: 2 });
  } finally {
    k.close();
  }
  await expectReject(() => CpuKernels.create(new WebAssembly.Memory({ initial: 1 })), /shared WebAssembly.Memory/);
});

async function expectReject(f: () => Promise<unknown>, pattern: RegExp): Promise<void> {
  try {
    await f();
  } catch (e) {
    if (pattern.test((e as Error).message)) return;
    throw e;
  }
  throw new Error(`expected a rejection matching ${pattern}`);
}
