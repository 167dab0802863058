/**
 * `sample.token` (layers/sample.ts): the GPU draw against the host sampler (`sampleToken`, float64) on the same
 * logits and coins, greedy ties, and the token write into the next position's input.
 */
import assert from "node:assert/strict";
import { sample, sampleTokenOp } from "../../layers/sample.ts";
import { sampleToken } from "../../train/sampler.ts";
import { rng, uniform } from "../_random.ts";
import { adapterAvailable, testOps, upload } from "../gpu/_helpers.ts";

Deno.test("sample.token cpu: the host sampler's token, written to sampled[step] and tokens[tokenAt]", () => {
  const logits = uniform(rng(1), 97, 3);
  const coins = new Float32Array([0.25, 0.75]);
  const tokens = new Int32Array(4), sampled = new Float32Array(2);
  sampleTokenOp({ tokens, sampled, logits, coins }, { V: 97, step: 1, tokenAt: 3, writeToken: true, temperature: 0.8 });
  const want = sampleToken(logits, 97, 0.75, { temperature: 0.8 });
  assert.equal(sampled[1], want);
  assert.equal(tokens[3], want);
  sampleTokenOp({ tokens, sampled, logits, coins }, { V: 97, step: 0, tokenAt: 0, writeToken: false, temperature: 0 });
  assert.equal(tokens[0], 0, "writeToken false leaves the inputs alone");
});

Deno.test({
  name: "sample.token gpu: the same token as the host sampler for every coin, temperature and vocabulary size",
  ignore: !adapterAvailable,
  fn: async () => {
    const ops = await testOps();
    let draws = 0;
    for (const V of [1, 97, 1000, 50257]) {
      const Vp = V + 47; // padded columns past V are never drawn
      const logits = uniform(rng(V), Vp, 4);
      const coinValues = Float32Array.from(uniform(rng(V + 1), 16).map((x) => (x + 1) / 2)); // [0, 1)
      const g = {
        tokens: await ops.allocate("tokens", 4, "i32"),
        sampled: await upload(ops, new Float32Array(16).fill(NaN)),
        logits: await upload(ops, logits),
        coins: await upload(ops, coinValues),
      };
      // (tokens[tokenAt] cannot be read back here, an int buffer: generate_test.ts shows the next forward pass reading
      // it, with the tokens of the host-sampled reference.)
      for (const temperature of [0, 0.7, 1, 1.6]) {
        for (let step = 0; step < 16; step++) {
          ops.run(sample.token, g, { V, step, tokenAt: 2, writeToken: step === 15, temperature });
        }
        const got = await ops.read(g.sampled);
        for (let step = 0; step < 16; step++) {
          const want = sampleToken(logits, V, coinValues[step], { temperature });
          assert.equal(got[step], want, `V=${V} temperature ${temperature} coin ${coinValues[step]}`);
          draws++;
        }
      }
    }
    assert.equal(draws, 4 * 4 * 16);
  },
});

Deno.test({
  name: "sample.token gpu: greedy takes the lowest index among equal maxima, as the host does",
  ignore: !adapterAvailable,
  fn: async () => {
    const ops = await testOps();
    const logits = new Float32Array(600).fill(-1);
    logits[450] = 2;
    logits[7] = 2;
    logits[300] = 2;
    const g = {
      tokens: await ops.allocate("tokens", 1, "i32"),
      sampled: await upload(ops, new Float32Array(1).fill(NaN)),
      logits: await upload(ops, logits),
      coins: await upload(ops, new Float32Array(1)),
    };
    ops.run(sample.token, g, { V: 600, step: 0, tokenAt: 0, writeToken: false, temperature: 0 });
    assert.equal((await ops.read(g.sampled))[0], 7);
    assert.equal(sampleToken(logits, 600, 0, { temperature: 0 }), 7);
  },
});

Deno.test({
  name: "sample.token gpu with top-k and top-p: the host sampler's token, ties in the logits included",
  ignore: !adapterAvailable,
  fn: async () => {
    const ops = await testOps();
    const settings = [{ topK: 1 }, { topK: 5 }, { topK: 40 }, { topP: 0.9 }, { topP: 0.3 }, { topK: 20, topP: 0.8 }];
    let draws = 0;
    for (const [V, ties] of [[97, false], [1000, true], [5000, false]] as const) {
      // With ties: logits rounded to halves, so many tokens share a probability (the ranking breaks them by index).
      const logits = uniform(rng(V + 2), V + 3, 4).map((x) => ties ? Math.round(2 * x) / 2 : x);
      const coinValues = Float32Array.from(uniform(rng(V + 3), 8).map((x) => (x + 1) / 2));
      const g = {
        tokens: await ops.allocate("tokens", 1, "i32"),
        sampled: await upload(ops, new Float32Array(8).fill(NaN)),
        logits: await upload(ops, logits),
        coins: await upload(ops, coinValues),
      };
      for (const setting of settings) {
        for (const temperature of [0.7, 1.3]) {
          for (let step = 0; step < 8; step++) {
            ops.run(sample.token, g, { V, step, tokenAt: 0, writeToken: false, temperature, ...setting });
          }
          const got = await ops.read(g.sampled);
          for (let step = 0; step < 8; step++) {
            const want = sampleToken(logits, V, coinValues[step], { temperature, ...setting });
            const what = `V=${V}${ties ? " (ties)" : ""} ${JSON.stringify(setting)} T=${temperature} coin ${
              coinValues[step]
            }`;
            assert.equal(got[step], want, what);
            draws++;
          }
        }
      }
    }
    assert.equal(draws, 3 * 6 * 2 * 8);
  },
});

Deno.test({
  name: "sample.token: several samples' rows in one draw, each with its own coin, on the CPU and the GPU",
  ignore: !adapterAvailable,
  fn: async () => {
    const [S, V, Vp, step, tokenAt] = [3, 300, 320, 6, 5];
    const logits = uniform(rng(77), S * Vp, 4);
    const coins = Float32Array.from(uniform(rng(78), 12).map((x) => (x + 1) / 2));
    const ops = await testOps();
    for (const settings of [{ temperature: 0 }, { temperature: 0.9 }, { temperature: 1, topK: 7, topP: 0.8 }]) {
      const sizes = { V, step, tokenAt, writeToken: true, samples: S, rowStride: Vp, ...settings };
      const want = Array.from(
        { length: S },
        (_, s) => sampleToken(logits.subarray(s * Vp), V, coins[step + s], settings),
      );
      const cpu = { tokens: new Int32Array(10), sampled: new Float32Array(12).fill(NaN), logits, coins };
      sampleTokenOp(cpu, sizes);
      assert.deepEqual([...cpu.sampled.subarray(step, step + S)], want, `cpu ${JSON.stringify(settings)}`);
      assert.deepEqual([...cpu.tokens.subarray(tokenAt, tokenAt + S)], want, "cpu: the rows' next inputs");
      assert.ok(Number.isNaN(cpu.sampled[step - 1]) && Number.isNaN(cpu.sampled[step + S]), "cpu: only S draws");
      const g = {
        tokens: await ops.allocate("tokens", 10, "i32"),
        sampled: await upload(ops, new Float32Array(12).fill(NaN)),
        logits: await upload(ops, logits),
        coins: await upload(ops, coins),
      };
      ops.run(sample.token, g, sizes);
      const got = await ops.read(g.sampled);
      assert.deepEqual([...got.subarray(step, step + S)], want, `gpu ${JSON.stringify(settings)}`);
      assert.ok(Number.isNaN(got[step - 1]) && Number.isNaN(got[step + S]), "gpu: only S draws");
    }
    assert.throws(() =>
      sampleTokenOp({ tokens: new Int32Array(4), sampled: new Float32Array(4), logits, coins }, {
        V,
        step: 0,
        tokenAt: 0,
        writeToken: false,
        temperature: 1,
        samples: 2,
      }), /rowStride/);
  },
});
