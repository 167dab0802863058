/**
 * The token + position encoder (layers/encoder.ts) in all its forms. The scalar reference: forward exact, backward
 * against a float64 scatter-add with repeated tokens. The GPU form against the reference: C = 30, a padded
 * vocabulary (Vp = 128, tokens < 97) with repeated tokens (the backward groups positions by token), wpe longer than
 * T, and new tokens written between two backward passes (the host-side bucket table must follow). dwte and dwpe
 * accumulate.
 */
import { encoder, encoderBackward, encoderForward } from "../../layers/encoder.ts";
import { assertClose } from "../_assert.ts";
import { randn, randomTokens, rng, uniform } from "../_random.ts";
import { adapterAvailable, poisoned as gpuPoisoned, testOps, upload, uploadInt } from "../gpu/_helpers.ts";
import { minus, poisoned } from "./_check.ts";

Deno.test("encoder B=3 T=5 C=30: forward is wte[token] + wpe[t]; backward scatters, repeated tokens add up", () => {
  const [B, T, C, Vp, maxT] = [3, 5, 30, 16, 9];
  const r = rng(3);
  const inp = new Int32Array([1, 4, 4, 0, 15, 4, 1, 1, 2, 3, 0, 0, 0, 0, 7]); // repeats on purpose
  const wte = randn(r, Vp * C), wpe = randn(r, maxT * C);
  const out = poisoned(B * T * C);
  encoderForward({ out, inp, wte, wpe }, { B, T, C });
  const expected = new Float64Array(B * T * C);
  for (let bt = 0; bt < B * T; bt++) {
    for (let c = 0; c < C; c++) expected[bt * C + c] = Math.fround(wte[inp[bt] * C + c] + wpe[(bt % T) * C + c]);
  }
  assertClose(out, expected, { atol: 0 }, "out"); // one float32 addition: exact

  const dout = randn(r, B * T * C);
  const dwte0 = randn(r, Vp * C), dwpe0 = randn(r, maxT * C);
  const dwte = dwte0.slice(), dwpe = dwpe0.slice();
  encoderBackward({ dwte, dwpe, dout, inp }, { B, T, C });
  // The objective Σ out·dout is linear: its gradient is the scatter-add of dout, summed here in float64.
  const wantDwte = new Float64Array(Vp * C), wantDwpe = new Float64Array(maxT * C);
  for (let bt = 0; bt < B * T; bt++) {
    for (let c = 0; c < C; c++) {
      wantDwte[inp[bt] * C + c] += dout[bt * C + c];
      wantDwpe[(bt % T) * C + c] += dout[bt * C + c];
    }
  }
  // Accumulated in float32 onto random values: a few roundings of O(1) numbers.
  assertClose(minus(dwte, dwte0), wantDwte, { atol: 2e-6 }, "dwte (accumulated)");
  assertClose(minus(dwpe, dwpe0), wantDwpe, { atol: 2e-6 }, "dwpe (accumulated)");
});

// Forward: one f32 addition per element, exact up to rounding. Backward: sums of ≤ B·T terms of O(1) added to O(1).
const TOL = { atol: 1e-5, rtol: 1e-6 };

Deno.test({
  name: "gpu encoder B=3 T=7 C=30 Vp=128: forward, backward (+=), and backward after new tokens vs CPU",
  ignore: !adapterAvailable,
  fn: async () => {
    const ops = await testOps();
    const [B, T, C, V, Vp, maxT] = [3, 7, 30, 97, 128, 9];
    const wte = uniform(rng(1), Vp * C);
    const wpe = uniform(rng(2), maxT * C);
    const gw = { wte: await upload(ops, wte), wpe: await upload(ops, wpe) };
    const dwte = uniform(rng(3), Vp * C);
    const dwpe = uniform(rng(4), maxT * C);
    const gdwte = await upload(ops, dwte);
    const gdwpe = await upload(ops, dwpe);
    const tokens = randomTokens(rng(6), B * T, 5); // 5 distinct ids over 21 positions: many repeats
    const inp = await uploadInt(ops, tokens);
    let worst = 0;
    for (const round of [0, 1]) {
      if (round === 1) {
        tokens.set(randomTokens(rng(7), B * T, V));
        ops.writeInt(inp, tokens);
      }
      const out = new Float32Array(B * T * C);
      encoderForward({ out, inp: tokens, wte, wpe }, { B, T, C });
      const gout = await gpuPoisoned(ops, B * T * C);
      ops.run(encoder.forward, { out: gout, inp, ...gw }, { B, T, C });
      worst = Math.max(worst, assertClose(await ops.read(gout), out, TOL, `out (round ${round})`));
      const dout = uniform(rng(8 + round), B * T * C);
      encoderBackward({ dwte, dwpe, dout, inp: tokens }, { B, T, C });
      ops.run(encoder.backward, { dwte: gdwte, dwpe: gdwpe, dout: await upload(ops, dout), inp }, { B, T, C });
      worst = Math.max(
        worst,
        assertClose(await ops.read(gdwte), dwte, TOL, `dwte (round ${round})`),
        assertClose(await ops.read(gdwpe), dwpe, TOL, `dwpe (round ${round})`),
      );
    }
    console.log(`  max abs diff ${worst.toExponential(1)}`);
  },
});
