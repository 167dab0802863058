import { encoderBackward, encoderForward } from "../../layers/encoder.ts";
import { assertClose } from "../_assert.ts";
import { randn, rng } from "../_random.ts";
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
