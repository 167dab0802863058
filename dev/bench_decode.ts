/**
 * Per-token decode cost on one backend: a random-init model (inference only, batch 1), `GPT2Decoder.sampleOnDevice`
 * timed over `--tokens` tokens, then one more run of `--profiled` tokens under the per-kernel profiler (GPU).
 * `dev/bench_generate.ts` measures the whole `gpt2 generate` command; this one says where a token's time goes.
 *
 *     deno run -A dev/bench_decode.ts --model d12 --tokens 256 --profiled 16 --device gpu
 *
 * @module
 */
import { parseArgs } from "node:util";
import { createModel, parseDeviceChoice } from "../model/backends.ts";
import { loadParameters, resolveModelSource } from "../model/source.ts";
import { GPT2Decoder } from "../model/decoder.ts";
import { formatProfile } from "../gpu/profiler.ts";
import { GPT2_EOT } from "../model/config.ts";

const { values } = parseArgs({
  options: {
    model: { type: "string", default: "d12" },
    tokens: { type: "string", default: "256" },
    profiled: { type: "string", default: "16" },
    device: { type: "string", default: "gpu" },
  },
});
const source = await resolveModelSource(values.model!);
const T = source.config.maxSeqLen;
const { model, description } = await createModel(source.config, 1, T, parseDeviceChoice(values.device!), {
  training: false,
});
await loadParameters(model, source, 1);
const decoder = new GPT2Decoder(model);
const run = async (n: number) => {
  decoder.reset();
  const coins = Float32Array.from({ length: n }, (_, i) => ((i * 7919) % 1000) / 1000);
  const t0 = performance.now();
  let first = NaN;
  await decoder.sampleOnDevice([Math.min(GPT2_EOT, source.config.vocabSize - 1)], n, coins, { temperature: 1 }, () => {
    if (Number.isNaN(first)) first = performance.now() - t0;
  });
  return { ms: performance.now() - t0, first };
};
await run(8); // warm-up: pipelines compiled
const n = Number(values.tokens);
const timed = await run(n);
console.log(
  `${values.model} on ${description}: ${n} tokens in ${timed.ms.toFixed(0)} ms (${
    (n / (timed.ms / 1000)).toFixed(1)
  } tok/s, ${(timed.ms / n).toFixed(2)} ms/token, first token ${timed.first.toFixed(0)} ms)`,
);
if (model.exec.profiler && Number(values.profiled) > 0) {
  const profiled = Number(values.profiled);
  model.exec.profiler.start({ wholePasses: true });
  const wall = await run(profiled);
  const [whole] = await model.exec.profiler.stop();
  console.log(
    `GPU time of ${profiled} tokens in whole passes: ${(whole.ms / profiled).toFixed(2)} ms/token ` +
      `(wall ${(wall.ms / profiled).toFixed(2)} ms/token)`,
  );
  const perOp = Math.min(profiled, 8); // a timed pass per op call: 2048 calls at most (~14 d12 tokens)
  model.exec.profiler.start();
  await run(perOp);
  console.log(`profile of ${perOp} tokens, a pass per op:\n` + formatProfile(await model.exec.profiler.stop()));
}
model.close();
