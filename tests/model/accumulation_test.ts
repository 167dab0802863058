import assert from "node:assert/strict";
import { parseModelDescriptor } from "../../model/config.ts";
import { createCpuModel } from "../../model/cpu_model.ts";
import { randomParameters } from "../../model/init.ts";

Deno.test("gradient accumulation over two half batches equals one big batch (1e-6 relative)", async () => {
  const cfg = parseModelDescriptor("layers=2,heads=3,channels=30,seq=16,vocab=97")!;
  const T = 16;
  const big = await createCpuModel(cfg, 4, T);
  const half = await createCpuModel(cfg, 2, T);
  for (const [name, data] of randomParameters(cfg, 3)) {
    big.writeParameter(name, data);
    half.writeParameter(name, data);
  }
  const tokens = Int32Array.from({ length: 4 * T + 1 }, (_, i) => (i * 31 + 7) % 97);
  const inputs = tokens.subarray(0, 4 * T), targets = tokens.subarray(1, 4 * T + 1);
  big.zeroGrad();
  big.forward(inputs, targets);
  big.backward();
  half.zeroGrad();
  for (const k of [0, 1]) {
    half.forward(inputs.slice(k * 2 * T, (k + 1) * 2 * T), targets.slice(k * 2 * T, (k + 1) * 2 * T));
    half.backward(0.5); // each half's mean loss counts 1/2 of the step's loss
  }
  const a = await big.readGradients(), b = await half.readGradients();
  for (const name of Object.keys(a) as (keyof typeof a)[]) {
    let maxDiff = 0, maxRef = 0;
    for (let i = 0; i < a[name].length; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(a[name][i] - b[name][i]));
      maxRef = Math.max(maxRef, Math.abs(a[name][i]));
    }
    // Relative to the tensor's largest gradient: only float32 summation order differs between the two.
    assert.ok(maxDiff <= 1e-6 * maxRef, `${name}: max diff ${maxDiff} vs max |grad| ${maxRef}`);
  }
  big.close();
  half.close();
});
