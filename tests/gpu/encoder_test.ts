/**
 * GPU encoder forward/backward against the CPU layer (layers/encoder.ts): C = 30, a padded vocabulary (Vp = 128,
 * tokens < 97) with repeated tokens (the backward groups positions by token), wpe longer than T, and new tokens
 * written between two backward passes (the host-side bucket table must follow). dwte and dwpe accumulate.
 */
import { encoder, encoderBackward, encoderForward } from "../../layers/encoder.ts";
import { assertClose } from "../_assert.ts";
import { randomTokens, rng, uniform } from "../_random.ts";
import { adapterAvailable, poisoned, testOps, upload, uploadInt } from "./_helpers.ts";

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
      const gout = await poisoned(ops, B * T * C);
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
