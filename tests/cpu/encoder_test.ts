/**
 * The WebAssembly encoder behind the CPU kernels: LEB128 integers, small modules built with it that V8
 * validates and runs (structured control flow, both memories, SIMD lanes), and the kernel module's exports
 * against their declared signatures.
 */
import assert from "node:assert/strict";
import { F32, Fn, I32, sleb, uleb, V128 } from "../../cpu/wasm/encoder.ts";
import { hasRelaxedSimd, ModuleBuilder } from "../../cpu/wasm/binary.ts";
import { checkExports, exportFn, EXPORTS, slots } from "../../cpu/wasm/exports.ts";
import { buildKernelModule } from "../../cpu/wasm/module.ts";

const bytesOf = (f: (out: number[]) => void) => {
  const out: number[] = [];
  f(out);
  return out;
};

Deno.test("LEB128: unsigned and signed encodings at the byte boundaries", () => {
  assert.deepEqual(bytesOf((o) => uleb(o, 0)), [0]);
  assert.deepEqual(bytesOf((o) => uleb(o, 127)), [0x7f]);
  assert.deepEqual(bytesOf((o) => uleb(o, 128)), [0x80, 0x01]);
  assert.deepEqual(bytesOf((o) => uleb(o, 65536)), [0x80, 0x80, 0x04]);
  assert.deepEqual(bytesOf((o) => uleb(o, 2 ** 32 - 1)), [0xff, 0xff, 0xff, 0xff, 0x0f]);
  assert.deepEqual(bytesOf((o) => sleb(o, 63)), [0x3f]);
  assert.deepEqual(bytesOf((o) => sleb(o, 64)), [0xc0, 0x00]);
  assert.deepEqual(bytesOf((o) => sleb(o, -1)), [0x7f]);
  assert.deepEqual(bytesOf((o) => sleb(o, -64)), [0x40]);
  assert.deepEqual(bytesOf((o) => sleb(o, -65)), [0xbf, 0x7f]);
  assert.deepEqual(bytesOf((o) => sleb(o, -(2 ** 31))), [0x80, 0x80, 0x80, 0x80, 0x78]);
});

Deno.test("a built module runs: loops, branches, memory 0 and the private memory 1, f32x4 lanes", () => {
  const m = new ModuleBuilder();
  m.privatePages = 1;
  // sum(p, n): Σ_i f32 at p + 4i (memory 0), via a copy in memory 1, with a while loop.
  const f = new Fn("sum", [I32, I32], [F32]);
  const i = f.local(I32), s = f.local(F32);
  f.block((exit) => {
    f.loop((top) => {
      f.get(i).get(1).i32GeS().brIf(exit);
      f.get(i).i32(2).i32Shl().get(0).get(i).i32(2).i32Shl().i32Add().f32Load().f32Store(0, 1);
      f.get(s).get(i).i32(2).i32Shl().f32Load(0, 1).f32Add().set(s).inc(i, 1).br(top);
    });
  });
  f.get(s);
  m.add(f);
  // lane2(p): lane 2 of (v at p) * 2 + 1, a vector multiply-add done as mul then add.
  const g = new Fn("lane2", [I32], [F32]);
  const v = g.local(V128);
  g.get(0).v128Load().set(v).get(v).f32x4Const(2).f32x4Mul().f32x4Const(1).f32x4Add().f32x4ExtractLane(2);
  m.add(g);
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
  const bytes = m.bytes();
  assert.ok(WebAssembly.validate(bytes));
  const ex = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } }).exports as {
    sum(p: number, n: number): number;
    lane2(p: number): number;
  };
  new Float32Array(memory.buffer, 64, 5).set([1, 2, 3, 4, 5]);
  assert.equal(ex.sum(64, 5), 15);
  assert.equal(ex.lane2(64), 7);
  assert.equal(typeof hasRelaxedSimd(), "boolean");
});

Deno.test("slots: names numbered in order; a repeated name is refused", () => {
  assert.deepEqual({ ...slots(["dinp", "inp", "dout", "n"]) }, { dinp: 0, inp: 1, dout: 2, n: 3 });
  assert.throws(() => slots(["out", "inp", "out"]), /"out" is listed twice/);
});

Deno.test("the kernel module exports every declared kernel with its declared parameter count", () => {
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 65536, shared: true });
  for (const relaxed of [false, ...(hasRelaxedSimd() ? [true] : [])]) {
    const module = new WebAssembly.Module(buildKernelModule({ relaxed }));
    const ex = new WebAssembly.Instance(module, { env: { memory } }).exports;
    for (const [name, s] of Object.entries(EXPORTS)) {
      const fn = ex[name];
      assert.equal(typeof fn, "function", name);
      assert.equal((fn as (...a: number[]) => unknown).length, s.i32.length + ("f32" in s ? s.f32.length : 0), name);
    }
  }
  // A kernel added twice, missing, or made with other parameter types is refused.
  const fns = Object.keys(EXPORTS).map((name) => exportFn(name as keyof typeof EXPORTS)[0]);
  checkExports(fns);
  assert.throws(() => checkExports([...fns, exportFn("gemm")[0]]), /gemm 2 times/);
  assert.throws(() => checkExports(fns.filter((f) => f.name !== "sumsq")), /sumsq 0 times/);
  const wrong = fns.map((f) => f.name === "attn_fwd" ? new Fn("attn_fwd", Array(8).fill(I32), []) : f);
  assert.throws(() => checkExports(wrong), /attn_fwd has signature/);
});
