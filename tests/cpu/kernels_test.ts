/**
 * CpuKernels (WebAssembly SIMD over Workers) as a whole: bit-identical matmul and attention results for 1, 2 and 3
 * threads, any cache blocking and repeated calls (with the Workers doing part of the work), and the argument checks
 * (arrays outside the shared memory, arrays too short). Each op's WebAssembly form is tested against its float64
 * and scalar references in tests/layers/<op>_test.ts.
 */
import { CpuKernels } from "../../cpu/kernels.ts";
import { Arena, assertSame, TINY_BLOCKS } from "./_wasm.ts";

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
      // The calling thread takes work items too, so on a busy machine it can finish a small call before a Worker
      // wakes: give the Workers more calls (each checked) before concluding they never take part.
      for (let extra = 0; threads > 1 && k.workerItems === 0 && extra < 200; extra++) {
        out.fill(NaN);
        k.matmulForward({ out, inp, weight, bias }, { N, C, OC });
        assertSame(`out (${threads} threads, extra call ${extra + 1})`, out, first![0]);
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
