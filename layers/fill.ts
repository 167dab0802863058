/**
 * Zero-filling a tensor (the gradients before a step, the residual-stream gradient before a backward pass).
 *
 * @module
 */
import * as elementwise from "../gpu/_ops_elementwise.ts";
import { defineOp } from "./_op.ts";

/** out[0 .. n) = 0, as an op record. */
export const zero = defineOp({
  name: "zero",
  buffers: { out: "f32" },
  cpu: (b, s: { n: number }) => void b.out.fill(0, 0, s.n),
  gpu: (g, b, s) => elementwise.zero(g.rt, b.out, s.n),
  work: (s) => ({ bytes: 4 * s.n }),
});
