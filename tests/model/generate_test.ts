/**
 * Generation with the KV cache (`GPT2Decoder`, `generateTokens`) against full recomputation: per-position logits
 * of the decoder equal those of the full forward pass, and with a fixed seed the sampled tokens with and without
 * the cache are the same, on the CPU (scalar layers and WebAssembly kernels) and on WebGPU. Then the `generate`
 * command end to end: cached and `--no-cache` output agree, and bad flags are one line and exit 2.
 */
import assert from "node:assert/strict";
import { StopText } from "../../commands/generate.ts";
import { CpuKernels } from "../../cpu/kernels.ts";
import { gpuAdapterAvailable } from "../../gpu/device.ts";
import { createGpuModel } from "../../model/gpu_model.ts";
import { parseModelDescriptor } from "../../model/config.ts";
import { createCpuModel } from "../../model/cpu_model.ts";
import { generateSamples, generateTokens, GPT2Decoder } from "../../model/decoder.ts";
import type { GPT2 } from "../../model/gpt2.ts";
import { loadParameters, resolveModelSource } from "../../model/source.ts";
import { assertClose } from "../_assert.ts";

const SPEC = "layers=2,heads=3,channels=30,seq=32,vocab=97";
const adapter = await gpuAdapterAvailable();
const PROMPT = [5, 17, 96, 0, 42];

// deno-lint-ignore no-explicit-any
type Factory = (T: number, B?: number, rowsInFlight?: number) => Promise<GPT2<any, any>>;
const cfg = parseModelDescriptor(SPEC)!;
const BACKENDS: [string, Factory, boolean][] = [
  [
    "cpu scalar",
    (T, B = 1, rowsInFlight) => createCpuModel(cfg, B, T, { training: !rowsInFlight, rowsInFlight }),
    false,
  ],
  ["cpu kernels", (T, B = 1, rowsInFlight) =>
    createCpuModel(cfg, B, T, {
      kernels: (m) => CpuKernels.create(m, 2),
      training: !rowsInFlight,
      rowsInFlight,
    }), false],
  ["gpu", (T, B = 1, rowsInFlight) => createGpuModel(cfg, B, T, { training: false, rowsInFlight }), !adapter],
];

// deno-lint-ignore no-explicit-any
async function loaded(create: Factory, T: number, B = 1, rowsInFlight?: number): Promise<GPT2<any, any>> {
  const model = await create(T, B, rowsInFlight);
  await loadParameters(model, await resolveModelSource(SPEC), 3);
  return model;
}

for (const [name, create, ignore] of BACKENDS) {
  Deno.test({
    name: `decoder logits equal the full forward pass at every position (${name})`,
    ignore,
    async fn() {
      const T = 12;
      const model = await loaded(create, T);
      try {
        const tokens = Int32Array.from({ length: T }, (_, i) => (i * 37 + 11) % cfg.vocabSize);
        model.forward(tokens);
        const full = await model.readLogits();
        const Vp = cfg.paddedVocabSize;
        const decoder = new GPT2Decoder(model);
        for (let pos = 0; pos < T; pos++) {
          const row = (await decoder.step(tokens[pos])).subarray(0, cfg.vocabSize);
          const want = full.subarray(pos * Vp, pos * Vp + cfg.vocabSize);
          assertClose(row, want, { atol: 1e-4, rtol: 1e-4 }, `cached logits at pos ${pos}`);
        }
      } finally {
        model.close();
      }
    },
  });

  Deno.test({
    name: `generated tokens with the KV cache equal full recomputation (${name})`,
    ignore,
    async fn() {
      const n = 20;
      const model = await loaded(create, PROMPT.length + n - 1);
      try {
        for (const sampling of [{}, { temperature: 0.8, topK: 20 }, { topP: 0.9 }, { temperature: 0 }]) {
          const options = { maxNewTokens: n, seed: 1234, ...sampling };
          const streamed: number[] = [];
          const cached = await generateTokens(model, PROMPT, options, (t) => streamed.push(t));
          const reference = await generateTokens(model, PROMPT, { ...options, cache: false });
          if (cached.join() !== reference.join() || streamed.join() !== cached.join()) {
            throw new Error(`${JSON.stringify(sampling)}: cached ${cached} vs reference ${reference}`);
          }
          if (cached.length !== n || cached.some((t) => !(t >= 0 && t < cfg.vocabSize))) {
            throw new Error(`bad tokens ${cached}`);
          }
        }
      } finally {
        model.close();
      }
    },
  });
}

for (const [name, create, ignore] of BACKENDS) {
  Deno.test({
    name: `prefill: the prompt in one pass gives the logits and tokens of feeding it position by position (${name})`,
    ignore,
    async fn() {
      const prompt = [5, 17, 96, 0, 42, 7, 7, 63, 1, 88, 30]; // 11 tokens
      const n = 8;
      const model = await loaded(create, prompt.length + n);
      try {
        const one = new GPT2Decoder(model);
        const prefilled = (await one.prefill(prompt)).slice();
        const then = (await one.step(3)).slice(); // the cache rows prefill left serve the next step
        const each = new GPT2Decoder(model);
        for (const t of prompt.slice(0, -1)) await each.step(t, { logits: false });
        const stepped = await each.step(prompt[prompt.length - 1]);
        // The same rows through other kernel shapes (one T×T attention vs per-row decode): float32 rounding only.
        const tol = { atol: 1e-4, rtol: 1e-4 };
        assertClose(prefilled.subarray(0, cfg.vocabSize), stepped.subarray(0, cfg.vocabSize), tol, "prompt logits");
        assertClose(then.subarray(0, cfg.vocabSize), (await each.step(3)).subarray(0, cfg.vocabSize), tol, "next");
        for (const sampling of [{}, { temperature: 0 }, { topK: 20 }]) {
          const options = { maxNewTokens: n, seed: 99, ...sampling };
          const fast = await generateTokens(model, prompt, options);
          const slow = await generateTokens(model, prompt, { ...options, prefill: false });
          if (fast.join() !== slow.join()) throw new Error(`${JSON.stringify(sampling)}: ${fast} vs ${slow}`);
        }
      } finally {
        model.close();
      }
    },
  });
}

for (const [name, create, ignore] of BACKENDS) {
  Deno.test({
    name: `batched samples: 3 sequences in one decode draw what 3 single runs with seeds s, s+1, s+2 draw (${name})`,
    ignore,
    async fn() {
      const [S, n] = [3, 9];
      const T = PROMPT.length + n - 1;
      const [batched, single] = [await loaded(create, T, S), await loaded(create, T)];
      try {
        // The prompt's logits, one row per sample: the single decoder's row, S times.
        const rows = await new GPT2Decoder(batched, { samples: S }).prefill(PROMPT);
        const one = await new GPT2Decoder(single).prefill(PROMPT);
        const Vp = cfg.paddedVocabSize;
        for (let s = 0; s < S; s++) {
          assertClose(rows.subarray(s * Vp, s * Vp + cfg.vocabSize), one.subarray(0, cfg.vocabSize), {
            atol: 1e-5,
            rtol: 1e-5,
          }, `sample ${s}: prompt logits`);
        }
        for (const sampling of [{}, { temperature: 0.7, topK: 10 }, { topP: 0.8 }]) {
          const seen: string[] = [];
          const got = await generateSamples(batched, PROMPT, { maxNewTokens: n, seed: 40, samples: S, ...sampling }, (
            t,
            s,
          ) => seen.push(`${s}:${t}`));
          for (let s = 0; s < S; s++) {
            const want = await generateTokens(single, PROMPT, { maxNewTokens: n, seed: 40 + s, ...sampling });
            assert.deepEqual(got[s], want, `${JSON.stringify(sampling)} sample ${s}`);
          }
          // Delivered step by step: sample 0, 1, 2 of step 0, then of step 1, …
          assert.deepEqual(seen, got[0].flatMap((_, i) => got.map((g, s) => `${s}:${g[i]}`)));
          assert.notDeepEqual(got[0], got[1], "each sample has its own stream");
        }
        // A sample whose callback says stop gets no more tokens; the others go on.
        const stopped = await generateSamples(
          batched,
          PROMPT,
          { maxNewTokens: n, seed: 40, samples: S },
          (_, s) => s !== 1,
        );
        assert.deepEqual(stopped.map((g) => g.length), [n, 1, n]);
      } finally {
        batched.close();
        single.close();
      }
    },
  });
}

for (const [name, create, ignore] of BACKENDS) {
  Deno.test({
    name: `rows in flight: activations for a few rows decode what full activations decode, prompt in pieces (${name})`,
    ignore,
    async fn() {
      const prompt = [5, 17, 96, 0, 42, 7, 7, 63, 1, 88, 30]; // 11 tokens: pieces of 4 positions, then of 1
      const n = 7;
      const T = prompt.length + n - 1;
      const tol = { atol: 1e-5, rtol: 1e-5 };
      for (const S of [1, 2]) {
        const [full, few] = [await loaded(create, T, S), await loaded(create, T, S, 4 * S)];
        try {
          assert.equal(few.layout.rowsInFlight, 4 * S);
          assert.ok(few.layout.acts.totalElements < full.layout.acts.totalElements / 2, "fewer activations planned");
          assert.throws(() => few.forward(new Int32Array(S * T)), /rows in flight/);
          const Vp = cfg.paddedVocabSize;
          const [a, b] = [
            await new GPT2Decoder(full, { samples: S }).prefill(prompt),
            await new GPT2Decoder(few, { samples: S }).prefill(prompt),
          ];
          for (let s = 0; s < S; s++) {
            const row = (x: Float32Array) => x.subarray(s * Vp, s * Vp + cfg.vocabSize);
            assertClose(row(b), row(a), tol, `S=${S} sample ${s}: prompt logits`);
          }
          for (const sampling of [{}, { temperature: 0 }, { topK: 5 }]) {
            const options = { maxNewTokens: n, seed: 12, samples: S, ...sampling };
            const want = await generateSamples(full, prompt, options);
            assert.deepEqual(await generateSamples(few, prompt, options), want, `S=${S} ${JSON.stringify(sampling)}`);
          }
        } finally {
          full.close();
          few.close();
        }
      }
    },
  });
}

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", "cli.ts", "generate", ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
}

Deno.test("gpt2 generate: cached, --no-cache and --attention flash output are the same text", async () => {
  const args = ["-e", SPEC, "--prompt", "a!", "-n", "12", "--seed", "5", "--device", "cpu", "--top-k", "50"];
  const [cached, reference] = [await cli(...args), await cli(...args, "--no-cache")];
  const flash = await cli(...args, "--attention", "flash");
  assert.equal(flash.stdout, cached.stdout, "flash attention samples the same tokens");
  if (cached.code !== 0 || reference.code !== 0) throw new Error(cached.stderr + reference.stderr);
  if (!cached.stdout.startsWith("a!") || cached.stdout !== reference.stdout) {
    throw new Error(`cached ${JSON.stringify(cached.stdout)} vs reference ${JSON.stringify(reference.stdout)}`);
  }
});

for (
  const [args, needle] of [
    [["-e", SPEC, "-n", "-1"], "-n"],
    [["-e", SPEC, "-n", "0"], "-n"],
    [["-e", SPEC, "--attention", "sparse"], "--attention"],
    [["-e", SPEC, "--num-samples", "0"], "--num-samples"],
    [["-e", SPEC, "--temperature", "-1"], "--temperature"],
    [["-e", SPEC, "--top-k", "-2"], "--top-k"],
    [["-e", SPEC, "--prompt", "€"], "vocabulary"],
    [["-e", SPEC, "--top-p", "1.5"], "--top-p"],
    [["-e", SPEC, "--bogus"], "bogus"],
    [["-e", SPEC, "-n", "40"], "-n"],
    [["-e", SPEC, "--device", "tpu"], "--device"],
    [["-n", "3"], "-e"],
  ] as const
) {
  Deno.test(`gpt2 generate ${args.join(" ").replace(SPEC, "SPEC")}: one line, exit 2`, async () => {
    const r = await cli(...args);
    const lines = r.stderr.trim().split("\n");
    if (r.code !== 2 || lines.length !== 1 || !lines[0].includes(needle)) {
      throw new Error(`exit ${r.code}, stderr ${JSON.stringify(r.stderr)}`);
    }
  });
}

Deno.test("StopText: holds back a possible start of the stop string, never prints it, flushes the rest", () => {
  const stop = new StopText("END");
  assert.equal(stop.push("ab E"), "ab ");
  assert.equal(stop.push("NX"), "ENX"); // a false start is printed once it cannot be the stop string
  assert.equal(stop.push("xE"), "x");
  assert.equal(stop.flush(), "E");
  const split = new StopText("END");
  assert.equal(split.push("1E") + split.push("N") + split.push("D2"), "1");
  assert.ok(split.done);
  assert.equal(split.push("more"), "");
  assert.equal(new StopText("").push("anything"), "anything");
});

Deno.test("gpt2 generate --stop: the text ends where the stop string first appears; stderr says so", async () => {
  const args = ["-e", SPEC, "--prompt", "a!", "-n", "24", "--seed", "8", "--device", "cpu"];
  const full = await cli(...args);
  assert.equal(full.code, 0, full.stderr);
  assert.match(full.stderr, /24 tokens in .* tok\/s, first token after \d+ ms/);
  const continuation = full.stdout.slice("a!".length, -1);
  const stopAt = [...continuation].slice(6, 8).join(""); // two characters from the middle
  const cut = continuation.indexOf(stopAt);
  const stopped = await cli(...args, "--stop", stopAt);
  assert.equal(stopped.code, 0, stopped.stderr);
  assert.equal(stopped.stdout, "a!" + continuation.slice(0, cut) + "\n");
  assert.match(stopped.stderr, /stopped at /);
  const json = await cli(...args, "--stop", stopAt, "--json");
  const end = JSON.parse(json.stdout.trim().split("\n").pop()!);
  assert.equal(end.type, "end");
  assert.equal(end.stopped, true);
  assert.equal(end.text, continuation.slice(0, cut));
  assert.ok(end.firstTokenSeconds > 0 && end.firstTokenSeconds <= end.seconds);
});

Deno.test("gpt2 generate --num-samples 3: three continuations, the first as a single run's, own RNG streams", async () => {
  const args = ["-e", SPEC, "--prompt", "a!", "-n", "10", "--seed", "4", "--device", "cpu"];
  const [one, three] = [await cli(...args), await cli(...args, "--num-samples", "3")];
  assert.equal(three.code, 0, three.stderr);
  const samples = three.stdout.split("---\n");
  assert.equal(samples.length, 3);
  assert.equal(samples[0], one.stdout);
  for (const s of samples) assert.ok(s.startsWith("a!") && s.endsWith("\n"), JSON.stringify(s));
  assert.equal(new Set(samples).size, 3, "each sample draws from its own stream (seed + i)");
  assert.match(three.stderr, /30 tokens in .* over 3 samples/);
  const json = await cli(...args, "--num-samples", "3", "--json");
  const ends = json.stdout.trim().split("\n").map((l) => JSON.parse(l)).filter((e) => e.type === "end");
  assert.deepEqual(ends.map((e) => e.sample), [0, 1, 2]);
  assert.equal("a!" + ends[1].text + "\n", samples[1]);
});
