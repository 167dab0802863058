/**
 * Both forms of the decode step `attention.decode` (layers/attention.ts):
 * - `cpu` (`attentionDecode`) against row `pos` of the full causal `attentionForward` over the same qkv rows:
 *   C = 30 with three heads (head size 10), prefixes of 1, 2, 17 and 64 positions;
 * - several samples interleaved position-major and several query rows in one call (a batched step, a prompt of
 *   several samples) against `attentionForward` over each sample's own sequence, on both forms;
 * - `gpu` (`kernels/attention_decode.wgsl`) against the `cpu` form on random qkv rows: head sizes 10 (C = 30, three
 *   heads) and 64 (GPT-2's), prefixes shorter and longer than the 128-thread workgroup, inputs at unaligned
 *   offsets, the output NaN-poisoned.
 */
import { createGpuExecutor, type GpuExecutor } from "../../gpu/executor.ts";
import { attention, attentionForward } from "../../layers/attention.ts";
import { attentionDecode } from "../../layers/attention_decode.ts";
import { assertClose } from "../_assert.ts";
import { rng, uniform } from "../_random.ts";
import { adapterAvailable, defaultOps, poisoned, upload } from "../gpu/_helpers.ts";

// ---- cpu ----

for (const [T, C, NH] of [[1, 30, 3], [2, 30, 3], [17, 30, 3], [64, 32, 2], [9, 12, 1]]) {
  Deno.test(`attentionDecode equals the last row of attentionForward (T=${T}, C=${C}, NH=${NH})`, () => {
    const inp = uniform(rng(T * 7 + C), T * 3 * C, 2);
    const full = new Float32Array(T * C);
    attentionForward({ out: full, preatt: new Float32Array(NH * T * T), att: new Float32Array(NH * T * T), inp }, {
      B: 1,
      T,
      C,
      NH,
    });
    // Every prefix: the query at pos attends to rows 0..pos only, so later rows must not matter.
    for (let pos = 0; pos < T; pos++) {
      const out = new Float32Array(C).fill(NaN);
      attentionDecode({ out, inp: inp.subarray(0, (pos + 1) * 3 * C) }, { row: pos, C, NH });
      assertClose(out, full.subarray(pos * C, (pos + 1) * C), { atol: 1e-6 }, `decode out at pos ${pos}`);
    }
  });
}

Deno.test("attentionDecode rejects a qkv prefix shorter than pos + 1 rows", () => {
  let threw = false;
  try {
    attentionDecode({ out: new Float32Array(3), inp: new Float32Array(9) }, { row: 1, C: 3, NH: 1 });
  } catch (err) {
    threw = err instanceof RangeError;
  }
  if (!threw) throw new Error("expected a RangeError");
});

// ---- gpu ----

// Scores are sums of hs ≤ 160 products, the softmax sums ≤ 301 terms, in f32 against the CPU's float64.
const TOL = { atol: 2e-6, rtol: 1e-5 };

/** A backend that splits every prefix longer than 16 positions into chunks of 16 (in production: above 512, 128). */
let chunked: Promise<GpuExecutor> | undefined;
const chunkedOps = () => chunked ??= createGpuExecutor({ attentionDecodeSplit: { above: 16, chunk: 16 } });

// Head sizes 10, 64 and 1 split the positions over WG / hs thread groups; 80 leaves one group; 160 > WG loops. The
// chunked backend splits pos 70, 129 and 300 into 5, 9 and 19 chunks (the last ones partly filled).
for (
  const [pos, C, NH] of [[0, 30, 3], [1, 30, 3], [129, 30, 3], [300, 128, 2], [5, 7, 7], [70, 160, 2], [33, 160, 1]]
) {
  Deno.test({
    name: `GPU attentionDecode matches the CPU (pos=${pos}, C=${C}, NH=${NH}), whole and in chunks of 16 positions`,
    ignore: !adapterAvailable,
    async fn() {
      const inp = uniform(rng(pos * 31 + C), (pos + 1) * 3 * C);
      const expected = new Float32Array(C);
      attentionDecode({ out: expected, inp }, { row: pos, C, NH });
      for (const ops of [await defaultOps(), await chunkedOps()]) {
        const out = await poisoned(ops, C);
        ops.run(attention.decode, { out, inp: await upload(ops, inp) }, { row: pos, C, NH });
        assertClose(await ops.read(out), expected, TOL, "out");
      }
    },
  });
}

// ---- several samples, several rows ----

for (const [S, T, C, NH] of [[3, 7, 30, 3], [2, 130, 16, 2], [4, 1, 12, 1]]) {
  Deno.test({
    name: `attentionDecode over ${S} interleaved samples (T=${T}, C=${C}, NH=${NH}): each sample's own attention`,
    async fn() {
      // S sequences batch-major for the reference; the same rows position-major (row p·S + s) for the decoder.
      const batchMajor = uniform(rng(S * 100 + T), S * T * 3 * C, 2);
      const full = new Float32Array(S * T * C);
      const scores = new Float32Array(S * NH * T * T);
      attentionForward({ out: full, preatt: scores, att: scores.slice(), inp: batchMajor }, { B: S, T, C, NH });
      const inp = new Float32Array(S * T * 3 * C);
      const want = new Float32Array(S * T * C);
      for (let s = 0; s < S; s++) {
        for (let t = 0; t < T; t++) {
          inp.set(batchMajor.subarray((s * T + t) * 3 * C, (s * T + t + 1) * 3 * C), (t * S + s) * 3 * C);
          want.set(full.subarray((s * T + t) * C, (s * T + t + 1) * C), (t * S + s) * C);
        }
      }
      // The whole interleaved prompt in one call, then the last position alone (a batched decode step).
      const calls = [{ row: 0, count: S * T }, { row: (T - 1) * S, count: S }];
      for (const { row, count } of calls) {
        const out = new Float32Array(count * C).fill(NaN);
        attentionDecode({ out, inp }, { row, count, samples: S, C, NH });
        assertClose(out, want.subarray(row * C, (row + count) * C), { atol: 1e-6 }, `cpu rows ${row}+${count}`);
        if (!adapterAvailable) continue;
        for (const ops of [await defaultOps(), await chunkedOps()]) {
          const g = await poisoned(ops, count * C);
          ops.run(attention.decode, { out: g, inp: await upload(ops, inp, 5) }, { row, count, samples: S, C, NH });
          assertClose(await ops.read(g), want.subarray(row * C, (row + count) * C), TOL, `gpu rows ${row}+${count}`);
        }
      }
    },
  });
}
