/**
 * The fused softmax + cross-entropy (layers/softmax_crossentropy.ts) in all its forms. The scalar reference: losses
 * and log-sum-exp against float64, the in-place gradient against finite differences of the mean loss, padded
 * columns ignored. The WebAssembly forward and backward (CpuKernels) against the reference on awkward shapes up to
 * GPT-2's vocabulary. The GPU form against the reference, with vocabulary padding (V = 97 of Vp = 128: padded
 * columns must get gradient 0 whatever their logits hold) and without (V = Vp = 40), on several rows and on one.
 * Outputs are NaN-poisoned; the in-place backward gets NaN in the padded columns of its input, which it must
 * neither read nor leave. Logits split over several GPU buffers: tests/gpu/binding_split_test.ts.
 */
import { CpuKernels } from "../../cpu/kernels.ts";
import { parseModelDescriptor } from "../../model/config.ts";
import { createCpuModel } from "../../model/cpu_model.ts";
import {
  softmaxCrossEntropy,
  softmaxCrossEntropyBackward,
  softmaxCrossEntropyForward,
} from "../../layers/softmax_crossentropy.ts";
import { assertClose } from "../_assert.ts";
import { fillUniform, randn, randomTokens, rng, uniform } from "../_random.ts";
import { adapterAvailable, poisoned as gpuPoisoned, testOps, upload, uploadInt } from "../gpu/_helpers.ts";
import { f64, finiteDifferences, poisoned } from "./_check.ts";

/** Float64 per-row log Σ_{v<V} exp(logit_v) over the first V of Vp columns. */
function referenceLse(logits: ArrayLike<number>, N: number, V: number, Vp: number): Float64Array {
  return Float64Array.from({ length: N }, (_, n) => {
    let sum = 0;
    for (let v = 0; v < V; v++) sum += Math.exp(logits[n * Vp + v]);
    return Math.log(sum);
  });
}

/** Float64 per-row cross-entropy: log Σ_{v<V} exp(logit_v) - logit_target. */
function referenceLosses(logits: ArrayLike<number>, targets: Int32Array, N: number, V: number, Vp: number) {
  return referenceLse(logits, N, V, Vp).map((l, n) => l - logits[n * Vp + targets[n]]);
}

/** The logits with NaN in the padded columns: the in-place backward must neither read nor keep them. */
function padNaN(logits: Float32Array, N: number, V: number, Vp: number): Float32Array {
  const out = logits.slice();
  for (let n = 0; n < N; n++) out.fill(NaN, n * Vp + V, (n + 1) * Vp);
  return out;
}

/**
 * Closeness of a gradient (softmax - onehot)·dloss, relative to what float32 can hold of each element: |want| off the
 * target, dloss at the target (where (p - 1) cancels), plus 1e-37 for probabilities that underflow.
 */
function gradTolerance(want: Float32Array, targets: Int32Array, Vp: number, dloss: number, rtol: number) {
  const magnitude = want.map((w, i) => targets[Math.floor(i / Vp)] === i % Vp ? dloss : Math.abs(w));
  return { atol: 1e-37, rtol, magnitude };
}

for (const [N, V, Vp] of [[5, 11, 16], [1, 7, 7], [3, 200, 256]]) {
  Deno.test(`softmax + cross-entropy N=${N} V=${V} Vp=${Vp}: padded columns ignored, gradient of the mean loss`, () => {
    const r = rng(N * 7 + V);
    const logits = randn(r, N * Vp, 3);
    for (let n = 0; n < N; n++) for (let v = V; v < Vp; v++) logits[n * Vp + v] = 1000; // must not matter
    const targets = randomTokens(r, N, V);
    const losses = poisoned(N), lse = poisoned(N);
    softmaxCrossEntropyForward({ losses, lse, logits, targets }, { N, V, Vp });
    assertClose(losses, referenceLosses(logits, targets, N, V, Vp), { atol: 1e-6, rtol: 1e-6 }, "losses");
    // float64 log-sum-exp rounded once to float32
    assertClose(lse, referenceLse(logits, N, V, Vp), { atol: 0, rtol: 1e-7 }, "lse");

    const dloss = 1 / N;
    const dlogits = padNaN(logits, N, V, Vp); // the logits; overwritten by their gradient
    softmaxCrossEntropyBackward({ dlogits, lse, targets }, { N, V, Vp, dloss });
    const mean = (x: Float64Array) => referenceLosses(x, targets, N, V, Vp).reduce((a, b) => a + b, 0) * dloss;
    const fd = finiteDifferences(mean, f64(logits));
    for (let n = 0; n < N; n++) for (let v = V; v < Vp; v++) fd[n * Vp + v] = 0; // padded: no gradient
    // Written in full (NaN in the padded columns first); softmax from a float32 lse vs float64 finite differences.
    assertClose(dlogits, fd, { atol: 1e-6, rtol: 1e-5 }, "dlogits (in place)");
  });
}

Deno.test("softmax + cross-entropy: the loss stays finite when the target's probability underflows float32", () => {
  const logits = new Float32Array([200, 0, 0, 0]);
  const losses = new Float32Array(1), lse = new Float32Array(1);
  softmaxCrossEntropyForward({ losses, lse, logits, targets: new Int32Array([1]) }, { N: 1, V: 3, Vp: 4 });
  // exp(-200) underflows float32 but log-sum-exp gives the exact loss 200 + log(1 + 2e^-200) = 200.
  if (losses[0] !== 200) throw new Error(`loss ${losses[0]}, expected 200`);
  softmaxCrossEntropyBackward({ dlogits: logits, lse, targets: new Int32Array([1]) }, { N: 1, V: 3, Vp: 4, dloss: 1 });
  // softmax (1, e^-200, e^-200): gradients 1, e^-200 - 1 = -1 (the target) and e^-200 = 0 in float32; padding 0.
  if (logits.join() !== "1,-1,0,0") throw new Error(`gradient ${logits.join()}`);
});

Deno.test("softmax + cross-entropy: wasm forward and backward match the reference, to GPT-2's vocabulary", async () => {
  // The kernels' buffers are views of one shared memory; starts not always 16-byte aligned.
  const memory = new WebAssembly.Memory({ initial: 512, maximum: 512, shared: true }); // 32 MiB
  let cursor = 64;
  const alloc = (n: number) => {
    const a = new Float32Array(memory.buffer, cursor, n);
    cursor += Math.ceil((n * 4) / 64) * 64 + 4 * (n % 5);
    return a;
  };
  const r = rng(7);
  const k = await CpuKernels.create(memory, 2, { parallelMinFlops: 0 });
  try {
    for (const [N, V, Vp] of [[1, 1, 1], [3, 7, 8], [5, 97, 100], [4, 50257, 50304]]) {
      cursor = 64;
      const logits = fillUniform(r, alloc(N * Vp), 8);
      const targets = new Int32Array(memory.buffer, alloc(N).byteOffset, N);
      for (let i = 0; i < N; i++) targets[i] = (i * 7919) % V;
      const lse = alloc(N).fill(NaN), losses = alloc(N).fill(NaN);
      const wLse = new Float32Array(N), wLosses = new Float32Array(N);
      k.softmaxCrossEntropyForward({ losses, lse, logits, targets }, { N, V, Vp });
      softmaxCrossEntropyForward({ losses: wLosses, lse: wLse, logits, targets }, { N, V, Vp });
      // |got - want| <= 1e-6 · (|want| + scale): float64 log of a float64 sum of float32 exponentials (relative error
      // ~1e-7 per term, scale 1).
      assertClose(losses, wLosses, { atol: 1e-6, rtol: 1e-6 }, `losses N=${N} V=${V}`);
      assertClose(lse, wLse, { atol: 1e-6, rtol: 1e-6 }, `lse N=${N} V=${V}`);

      const dloss = 1 / N;
      const dlogits = alloc(N * Vp);
      dlogits.set(padNaN(logits, N, V, Vp));
      const want = padNaN(logits, N, V, Vp);
      k.softmaxCrossEntropyBackward({ dlogits, lse, targets }, { N, V, Vp, dloss });
      softmaxCrossEntropyBackward({ dlogits: want, lse, targets }, { N, V, Vp, dloss });
      // exp of the float32 difference logit - lse (in (-32, 0]: rounded by ≤ 2^-20 ≈ 1e-6, so the exponential by
      // ≤ 1e-6 relative), exp4's ~1e-7 and the float32 product (measured ≤ 1.1e-6).
      assertClose(dlogits, want, gradTolerance(want, targets, Vp, dloss, 2e-6), `dlogits N=${N} V=${V}`);
    }
  } finally {
    k.close();
  }
});

// The last: rows over several steps of the kernels' loops (four columns a thread, 1024 a step), the last one partial.
for (const [N, V, Vp] of [[33, 97, 128], [1, 40, 40], [1, 97, 128], [6, 1000, 1003], [2, 2500, 2503]]) {
  Deno.test({
    name: `gpu softmax+crossentropy N=${N} V=${V} Vp=${Vp}: losses, lse and the in-place dlogits vs CPU`,
    ignore: !adapterAvailable,
    fn: async () => {
      const ops = await testOps();
      const logits = uniform(rng(1), N * Vp, 5);
      for (let n = 0; n < N; n++) logits.fill(1e4, n * Vp + V, (n + 1) * Vp); // padding must be ignored
      const targets = randomTokens(rng(2), N, V);
      const losses = new Float32Array(N);
      const lse = new Float32Array(N);
      softmaxCrossEntropyForward({ losses, lse, logits, targets }, { N, V, Vp });
      const g = {
        losses: await gpuPoisoned(ops, N),
        lse: await gpuPoisoned(ops, N),
        logits: await upload(ops, logits),
        targets: await uploadInt(ops, targets),
      };
      ops.run(softmaxCrossEntropy.forward, g, { N, V, Vp });
      // exp and sums of ≤ 1000 terms in f32 vs float64; losses and lse are O(log V + 5).
      const tol = { atol: 1e-6, rtol: 1e-5 };
      const d1 = assertClose(await ops.read(g.losses), losses, tol, "losses");
      const d2 = assertClose(await ops.read(g.lse), lse, tol, "lse");
      const dloss = 1 / N;
      const dlogits = padNaN(logits, N, V, Vp);
      softmaxCrossEntropyBackward({ dlogits, lse, targets }, { N, V, Vp, dloss });
      const gd = await upload(ops, padNaN(logits, N, V, Vp));
      ops.run(softmaxCrossEntropy.backward, { dlogits: gd, lse: g.lse, targets: g.targets }, { N, V, Vp, dloss });
      // WGSL's exp is within 3 + 2·|x| ULP (x = logit - lse in (-24, 0]: ≤ 51 ULP ≈ 3e-6), the float32 difference
      // adds ≤ 1e-6 and the GPU's lse (≤ 2e-7 relative of ≤ 12) 2.4e-6 (measured on llvmpipe ≤ 2.9e-6).
      const d3 = assertClose(await ops.read(gd), dlogits, gradTolerance(dlogits, targets, Vp, dloss, 1e-5), "dlogits");
      console.log(`  max abs diff ${Math.max(d1, d2, d3).toExponential(1)}`);
    },
  });
}

Deno.test("GPT2: backward overwrites the logits; readLogits and a second backward of that pass refuse", async () => {
  const model = await createCpuModel(parseModelDescriptor("layers=1,heads=2,channels=8,seq=4,vocab=10")!, 1, 4);
  const tokens = new Int32Array([1, 2, 3, 4]);
  model.forward(tokens, tokens);
  const logits = await model.readLogits();
  if (logits.length !== 4 * 128 || logits.some((x) => x !== 0)) throw new Error("zero weights give zero logits");
  model.backward();
  const refuses = async (f: () => unknown, want: RegExp) => {
    try {
      await f();
    } catch (err) {
      if (err instanceof Error && want.test(err.message)) return;
      throw err;
    }
    throw new Error(`no error matching ${want}`);
  };
  await refuses(() => model.readLogits(), /^readLogits: backward has overwritten the logits/);
  await refuses(() => model.backward(), /^backward has already run on this forward pass/);
  model.forward(tokens, tokens);
  if ((await model.readLogits()).some((x) => x !== 0)) throw new Error("forward makes the logits readable again");
  model.close();
});
