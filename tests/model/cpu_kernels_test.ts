/**
 * The CPU backend with its fast kernels plugged in: calls are routed to the kernels object, and the multicore
 * WebAssembly kernels (`CpuKernels`) meet the same PyTorch parity tolerances as the scalar reference layers.
 */
import { adamwUpdate, gradNormSquared } from "../../layers/adamw.ts";
import { attentionBackward, attentionForward } from "../../layers/attention.ts";
import { geluBackward, geluForward } from "../../layers/gelu.ts";
import { matmulBackward, matmulForward } from "../../layers/matmul.ts";
import { softmaxCrossEntropyBackward, softmaxCrossEntropyForward } from "../../layers/softmax_crossentropy.ts";
import { CpuKernels } from "../../cpu/kernels.ts";
import { readCheckpoint } from "../../model/checkpoint.ts";
import { type CpuModelOptions, createCpuModel } from "../../model/cpu_model.ts";
import { readDebugState } from "../../model/debug_state.ts";
import { LOSS_TOLERANCE, maxAbsDiff, maxAbsDiffPadded, TENSOR_TOLERANCE } from "../../model/parity.ts";
import { PARAMETER_NAMES } from "../../model/tensors.ts";
import { fixturePath, FIXTURES, readExpected } from "./_fixtures.ts";

/** Loads a fixture into a CPU model, runs forward + backward; returns max abs diffs vs PyTorch. */
async function runFixture(name: string, options: CpuModelOptions) {
  const { config, params } = await readCheckpoint(fixturePath(name, "model.bin"));
  const state = await readDebugState(fixturePath(name, "state.bin"), config);
  const model = await createCpuModel(config, state.B, state.T, options);
  try {
    for (const p of PARAMETER_NAMES) model.writeParameter(p, params[p]);
    model.forward(state.inputs, state.targets);
    const sizes = { V: config.vocabSize, Vp: config.paddedVocabSize };
    const logitsDiff = maxAbsDiffPadded(await model.readLogits(), state.logits, sizes); // before backward overwrites
    model.zeroGrad();
    model.backward();
    const grads = await model.readGradients();
    const gradDiffs = Object.fromEntries(PARAMETER_NAMES.map((p) => [p, maxAbsDiff(grads[p], state.grads[p])]));
    return { logitsDiff, lossDiff: Math.abs((await model.meanLoss()) - (await readExpected(name)).loss), gradDiffs };
  } finally {
    model.close();
  }
}

Deno.test("The CPU executor routes ops with a wasm form to the kernels object and closes it with the model", async () => {
  const calls: Record<string, number> = {};
  let closed = false;
  const count = <A extends unknown[]>(name: string, f: (...a: A) => void) => (...a: A) => {
    calls[name] = (calls[name] ?? 0) + 1;
    f(...a);
  };
  // A stand-in for CpuKernels whose methods count their calls and run the scalar references, so the results must
  // equal the plain scalar run exactly.
  const spy = {
    threads: 1,
    matmulForward: count("matmulForward", matmulForward),
    matmulBackward: count("matmulBackward", matmulBackward),
    attentionForward: count("attentionForward", attentionForward),
    attentionBackward: count("attentionBackward", attentionBackward),
    geluForward: count("geluForward", geluForward),
    geluBackward: count("geluBackward", geluBackward),
    softmaxCrossEntropyForward: count("softmaxCrossEntropyForward", softmaxCrossEntropyForward),
    softmaxCrossEntropyBackward: count("softmaxCrossEntropyBackward", softmaxCrossEntropyBackward),
    adamwUpdate,
    gradNormSquared,
    close: () => closed = true,
  } as unknown as CpuKernels;
  const withSpy = await runFixture("awkward", { kernels: () => Promise.resolve(spy) });
  const plain = await runFixture("awkward", {});
  // awkward has two layers: 4 matmuls per layer + the output head; one attention forward per layer, plus one
  // recomputation in backward for every layer but the last (the scores are shared, see model/tensors.ts)
  const L = 2;
  const want = {
    matmulForward: 4 * L + 1,
    matmulBackward: 4 * L + 1,
    attentionForward: 2 * L - 1,
    attentionBackward: L,
    softmaxCrossEntropyForward: 1,
    softmaxCrossEntropyBackward: 1,
  };
  for (const [op, n] of Object.entries(want)) {
    if (calls[op] !== n) throw new Error(`${op} called ${calls[op]} times, expected ${n}`);
  }
  if (!closed) throw new Error("kernels not closed by model.close()");
  if (JSON.stringify(withSpy) !== JSON.stringify(plain)) throw new Error("routing changed the results");
});

for (const name of FIXTURES) {
  Deno.test(`CpuKernels (2 threads) ${name}: logits, loss and gradients match PyTorch`, async () => {
    const r = await runFixture(name, { kernels: (memory) => CpuKernels.create(memory, 2) });
    const worstGrad = Object.entries(r.gradDiffs).reduce((a, b) => (b[1] > a[1] || Number.isNaN(b[1]) ? b : a));
    if (!(r.logitsDiff <= TENSOR_TOLERANCE)) throw new Error(`logits differ by ${r.logitsDiff}`);
    if (!(r.lossDiff <= LOSS_TOLERANCE)) throw new Error(`loss differs by ${r.lossDiff}`);
    if (!(worstGrad[1] <= TENSOR_TOLERANCE)) throw new Error(`grad ${worstGrad[0]} differs by ${worstGrad[1]}`);
  });
}
