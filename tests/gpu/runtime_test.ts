/**
 * The GPU runtime: a clear error without an adapter, deferred execution (a run of ops is one submit, made when the
 * host reads), caching (repeating ops builds no pipeline or bind group), the check that refuses a buffer bound
 * read-only and writable in one dispatch, uncaptured WebGPU errors surfacing as one-line UserErrors, and the
 * timestamp profiler's table.
 */
import { requestGpuDevice } from "../../gpu/device.ts";
import { formatProfile } from "../../gpu/profiler.ts";
import { UserError } from "../../util/errors.ts";
import { rng, uniform } from "../_random.ts";
import { adapterAvailable, testOps, upload } from "./_helpers.ts";
import { gelu } from "../../layers/gelu.ts";
import { matmul } from "../../layers/matmul.ts";
import { residual } from "../../layers/residual.ts";

Deno.test("gpu device: no adapter is a UserError that says to use the CPU", async () => {
  for (const gpu of [undefined, { requestAdapter: () => Promise.resolve(null) } as unknown as GPU]) {
    try {
      await requestGpuDevice(gpu);
      throw new Error("no error");
    } catch (err) {
      if (!(err instanceof UserError) || err.message !== "No WebGPU adapter found; use --device cpu") throw err;
    }
  }
});

Deno.test({
  name: "gpu runtime: ops are recorded, submitted once at the read, and cached across repeats",
  ignore: !adapterAvailable,
  fn: async () => {
    const ops = await testOps();
    const rt = ops.runtime;
    const a = await upload(ops, uniform(rng(1), 1000));
    const b = await upload(ops, uniform(rng(2), 1000));
    const c = await upload(ops, new Float32Array(1000));
    const step = () => {
      ops.run(residual.forward, { out: c, inp1: a, inp2: b }, { N: 1000 });
      ops.run(gelu.forward, { out: c, inp: a }, { N: 1000 });
      ops.run(residual.forward, { out: c, inp1: c, inp2: c }, { N: 0 }); // no work, no dispatch
    };
    step();
    await ops.read(c);
    const cached = rt.cacheSizes;
    const submits = rt.submitCount;
    step();
    step();
    if (rt.pendingCount !== 4 || rt.submitCount !== submits) throw new Error("ops ran before the read");
    await ops.read(c);
    if (rt.submitCount !== submits + 1) throw new Error(`expected one submit, got ${rt.submitCount - submits}`);
    const after = rt.cacheSizes;
    if (after.pipelines !== cached.pipelines || after.bindGroups !== cached.bindGroups) {
      throw new Error(`repeated ops built objects: ${JSON.stringify(cached)} -> ${JSON.stringify(after)}`);
    }
  },
});

Deno.test({
  name: "gpu runtime: one buffer read and written by a dispatch is refused with both tensor names",
  ignore: !adapterAvailable,
  fn: async () => {
    const ops = await testOps();
    const whole = await ops.allocate("acts", 20);
    const x = ops.view(whole, 0, 10);
    const y = ops.view(whole, 10, 10);
    try {
      ops.run(gelu.forward, { out: y, inp: x }, { N: 10 });
      throw new Error("no error");
    } catch (err) {
      const want = "gelu_forward: 'acts[+0, 10]' (read) and 'acts[+10, 10]' (written) share one GPU buffer";
      if (!(err as Error).message.startsWith(want)) throw err;
    }
  },
});

Deno.test({
  name: "gpu runtime: an uncaptured WebGPU error becomes a one-line UserError at the next read",
  ignore: !adapterAvailable,
  fn: async () => {
    const ops = await testOps();
    const t = await upload(ops, new Float32Array(4));
    // A misaligned write is a validation error reported asynchronously (an invalid object, such as a buffer with
    // MAP_READ | STORAGE, would do too, but Deno sometimes crashes freeing invalid objects at exit).
    ops.runtime.device.queue.writeBuffer(t.arena.segments[0].buffer, 2, new Uint8Array(4));
    try {
      await ops.read(t);
      throw new Error("no error");
    } catch (err) {
      if (!(err instanceof UserError) || !err.message.startsWith("WebGPU error: ") || err.message.includes("\n")) {
        throw err;
      }
    }
    await ops.read(t); // reported once; the device is still usable
  },
});

Deno.test({
  name: "gpu profiler: one row per op label with calls, time, share and rate",
  ignore: !adapterAvailable || !(await testOps().then((o) => o.runtime.ctx.hasTimestamps).catch(() => false)),
  fn: async () => {
    const ops = await testOps();
    const N = 64;
    const inp = await upload(ops, uniform(rng(1), N * 32));
    const w = await upload(ops, uniform(rng(2), 48 * 32));
    const out = await upload(ops, new Float32Array(N * 48));
    ops.profiler!.start();
    for (let i = 0; i < 3; i++) ops.run(matmul.forward, { out, inp, weight: w }, { N, C: 32, OC: 48 });
    ops.run(gelu.forward, { out, inp }, { N: N * 32 });
    const rows = await ops.profiler!.stop();
    const mm = rows.find((r) => r.name === "matmulForward 64x32x48");
    const geluRow = rows.find((r) => r.name === "geluForward");
    if (!mm || mm.calls !== 3 || mm.unit !== "GFLOP/s" || !(mm.ms > 0)) throw new Error(JSON.stringify(rows));
    if (!geluRow || geluRow.calls !== 1 || geluRow.unit !== "GB/s") throw new Error(JSON.stringify(rows));
    const share = rows.reduce((s, r) => s + r.share, 0);
    if (Math.abs(share - 1) > 1e-9) throw new Error(`shares add up to ${share}`);
    const table = formatProfile(rows);
    if (!table.includes("matmulForward 64x32x48") || !table.includes("total")) throw new Error(table);
  },
});
