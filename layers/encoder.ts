/**
 * Token + position embedding, the first layer of GPT-2: each position's vector is the sum of its token's row of
 * `wte` and its position's row of `wpe`.
 *
 * @module
 */
import * as rows from "../gpu/_ops_rows.ts";
import { defineOp } from "./_op.ts";

/**
 * out (B,T,C) = wte[inp[b,t]] + wpe[t]. Token ids must be < the number of rows of `wte` (the model checks them).
 *
 * @param b `out` (B,T,C) written; `inp` (B,T) token ids; `wte` (Vp,C); `wpe` (maxT,C).
 * @param s Sizes B, T, C.
 * @example
 * ```ts
 * import { encoderForward } from "./encoder.ts";
 * const out = new Float32Array(2);
 * encoderForward({ out, inp: new Int32Array([1]), wte: new Float32Array([0, 0, 1, 2]), wpe: new Float32Array([10, 20]) },
 *   { B: 1, T: 1, C: 2 });
 * if (out[0] !== 11 || out[1] !== 22) throw new Error("wrong embedding");
 * ```
 */
export function encoderForward(
  b: { out: Float32Array; inp: Int32Array; wte: Float32Array; wpe: Float32Array },
  s: { B: number; T: number; C: number },
): void {
  const { out, inp, wte, wpe } = b;
  const { B, T, C } = s;
  for (let bt = 0; bt < B * T; bt++) {
    const outRow = bt * C;
    const tokenRow = inp[bt] * C;
    const positionRow = (bt % T) * C;
    for (let c = 0; c < C; c++) out[outRow + c] = wte[tokenRow + c] + wpe[positionRow + c];
  }
}

/**
 * Scatters the output gradient back into the embedding tables: dwte[inp[b,t]] += dout[b,t] and dwpe[t] += dout[b,t]
 * (parameter gradients accumulate).
 *
 * @param b `dwte` (Vp,C) and `dwpe` (maxT,C) accumulated; `dout` (B,T,C); `inp` (B,T) token ids.
 * @param s Sizes B, T, C.
 * @example
 * ```ts
 * import { encoderBackward } from "./encoder.ts";
 * const dwte = new Float32Array(4), dwpe = new Float32Array(2);
 * encoderBackward({ dwte, dwpe, dout: new Float32Array([1, 2, 3, 4]), inp: new Int32Array([1, 1]) }, { B: 2, T: 1, C: 2 });
 * if (dwte[2] !== 4 || dwpe[1] !== 6) throw new Error("wrong scatter");
 * ```
 */
export function encoderBackward(
  b: { dwte: Float32Array; dwpe: Float32Array; dout: Float32Array; inp: Int32Array },
  s: { B: number; T: number; C: number },
): void {
  const { dwte, dwpe, dout, inp } = b;
  const { B, T, C } = s;
  for (let bt = 0; bt < B * T; bt++) {
    const doutRow = bt * C;
    const tokenRow = inp[bt] * C;
    const positionRow = (bt % T) * C;
    for (let c = 0; c < C; c++) {
      const d = dout[doutRow + c];
      dwte[tokenRow + c] += d;
      dwpe[positionRow + c] += d;
    }
  }
}

/** The token + position encoder as op records. */
export const encoder = {
  forward: defineOp({
    name: "encoderForward",
    buffers: { out: "f32", inp: "i32", wte: "f32", wpe: "f32" },
    cpu: encoderForward,
    gpu: (g, b, s) => rows.encoderForward(g.rt, b, s),
    work: (s) => ({ bytes: 4 * 3 * s.B * s.T * s.C }),
  }),
  backward: defineOp({
    name: "encoderBackward",
    buffers: { dwte: "f32", dwpe: "f32", dout: "f32", inp: "i32" },
    cpu: encoderBackward,
    gpu: (g, b, s) => rows.encoderBackward(g.rt, g.tables, b, s),
    work: (s) => ({ bytes: 4 * 4 * s.B * s.T * s.C }),
  }),
};
