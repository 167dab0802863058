/**
 * Both forms of `flashAttention.forward` and `flashAttention.backward` (layers/flash_attention.ts), outputs
 * NaN-poisoned:
 * - `cpu`, the scalar reference: out and dinp against the materialized reference `attentionForward` /
 *   `attentionBackward` (itself checked against finite differences in attention_test.ts), lse against the log of the
 *   softmax denominators of attentionForward's scores;
 * - `gpu` (tests/layers/_flash_gpu.ts; hs = 8 from flash_attention_tiles_test.ts): against the scalar form with B = 2, three heads, head sizes 8, 64 and 80 (80: three channel groups per
 *   thread, the third partial) and T = 1, 7, 33, 70 (none a multiple of a tile), with the tiles chosen for this
 *   adapter, tiles with 64-column blocks, the tiles of a 48 KiB device (the production path: 64-row forward), and
 *   on hardware adapters those for 16 KiB (WebGPU's minimum); and tiles with 16 and 32 threads per row group (TX,
 *   `FlashTile.threadsPerRowGroup`): 16×16×16 and 16×64×16 (KPT = 4) at hs = 8, 8×16×16 at hs = 64 (CPT = 1) and
 *   hs = 80 (CPT = 2, the second partial), 8×32×32 at hs = 8;
 * - tiles: the candidate lists, their parser, and the launcher's refusal of tiles the kernels cannot take.
 */
import assert from "node:assert/strict";
import { attentionBackward, attentionForward } from "../../layers/attention.ts";
import {
  FLASH_CANDIDATES,
  flashAttention,
  flashAttentionBackward,
  flashAttentionForward,
  flashTileBytes,
  flashTiles,
  flashTileText,
  flashTileThreads,
  parseFlashTiles,
} from "../../layers/flash_attention.ts";
import { UserError } from "../../util/errors.ts";
import { assertClose } from "../_assert.ts";
import { rng, uniform } from "../_random.ts";
import { adapterAvailable, defaultOps, poisoned as gpuPoisoned } from "../gpu/_helpers.ts";
import { poisoned } from "./_check.ts";
import { flashGpuTest, TX16 } from "./_flash_gpu.ts";

// ---- cpu: the scalar reference ----

/** log Σ_{t2 ≤ t} exp(preatt[t, t2]) of every row of attentionForward's (B,NH,T,T) scores, in float64. */
function logSumExp(preatt: Float32Array, rows: number, T: number): Float64Array {
  const lse = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    const t = r % T, row = preatt.subarray(r * T, r * T + t + 1);
    const max = Math.max(...row);
    lse[r] = max + Math.log(row.reduce((s, x) => s + Math.exp(x - max), 0));
  }
  return lse;
}

for (const [B, T, C, NH] of [[2, 5, 30, 3], [3, 1, 30, 3], [1, 7, 8, 1], [2, 33, 24, 3], [1, 70, 240, 3]]) {
  Deno.test(`flashAttention cpu B=${B} T=${T} C=${C} NH=${NH}: out, lse, dinp vs the materialized attention`, () => {
    const s = { B, T, C, NH };
    const r = rng(B * 100 + T * 10 + C);
    const inp = uniform(r, B * T * 3 * C, 2), dout = uniform(r, B * T * C);
    const TT = B * NH * T * T;
    const ref = { out: poisoned(B * T * C), preatt: poisoned(TT), att: poisoned(TT) };
    attentionForward({ ...ref, inp }, s);
    const out = poisoned(B * T * C), lse = poisoned(B * NH * T);
    flashAttentionForward({ out, lse, inp }, s);
    // The same float64 arithmetic row by row, rounded once to float32.
    assertClose(out, ref.out, { atol: 1e-7, rtol: 1e-7 }, "out");
    // preatt holds the scores rounded to float32: |score|·2⁻²⁴ apart, scores below 10 here.
    assertClose(lse, logSumExp(ref.preatt, B * NH * T, T), { atol: 1e-6, rtol: 1e-7 }, "lse");

    const refDinp = poisoned(B * T * 3 * C);
    attentionBackward({ dinp: refDinp, dpreatt: poisoned(TT), datt: poisoned(TT), dout, inp, att: ref.att }, s);
    const dinp = poisoned(B * T * 3 * C);
    flashAttentionBackward({ dinp, dout, inp, out, lse }, s);
    // float64 sums on both sides; they differ by the float32 rounding of what each keeps from forward (att there,
    // out and lse here): ~1e-7 relative per probability, summed over T ≤ 70 rows of O(1) terms.
    assertClose(dinp, refDinp, { atol: 2e-6, rtol: 1e-5 }, "dinp (written)");
  });
}

// ---- gpu ----

for (const hs of [64, 80]) flashGpuTest(hs); // hs = 8, with every tile form: flash_attention_tiles_test.ts

// ---- tiles ----

Deno.test("flash tiles: candidates the kernels take, the measured defaults, bad tiles refused", async () => {
  for (const [k, list] of Object.entries(FLASH_CANDIDATES)) {
    for (const t of list) assert.ok(flashTileThreads(t) <= 256, `${k} ${flashTileText(t)}: at most 256 threads`);
  }
  // d12's head in the H200's 48 KiB: the fastest of the sweep; every head size gets tiles that fit its memory.
  const d12 = flashTiles(64, 49152);
  assert.deepEqual([d12.forward, d12.dq, d12.dkdv].map(flashTileText), ["64x32x16", "64x16x16", "32x32x16"]);
  for (const hs of [8, 64, 128]) {
    for (const bytes of [16384, 49152]) {
      const tiles = flashTiles(hs, bytes);
      for (const k of ["forward", "dq", "dkdv"] as const) {
        assert.ok(flashTileBytes(k, tiles[k], hs) <= bytes, `hs ${hs}, ${bytes} bytes: ${k} fits`);
      }
    }
  }
  assert.deepEqual(parseFlashTiles("64x32 16x32x16"), [{ rows: 64, cols: 32 }, {
    rows: 16,
    cols: 32,
    threadsPerRowGroup: 16,
  }]);
  for (const bad of ["16x8x16", "16x48x16", "16x16x12", "6x16", "16x128", "16x16x16x2"]) {
    assert.throws(() => parseFlashTiles(bad), /^Error: Flash attention tile/, bad);
  }
  if (!adapterAvailable) return;
  const ops = await defaultOps();
  const s = { B: 1, T: 4, C: 24, NH: 3 };
  const g = {
    out: await gpuPoisoned(ops, 24 * 4),
    lse: await gpuPoisoned(ops, 12),
    inp: await gpuPoisoned(ops, 72 * 4),
  };
  // cols < TX: a thread would own no column.
  const narrow = { ...TX16, forward: { rows: 16, cols: 8, threadsPerRowGroup: 16 } };
  assert.throws(
    () => ops.run(flashAttention.forward, g, { ...s, tiles: narrow }),
    (e) => e instanceof UserError && /cols must be 1, 2, 4 or 8 times the threads per row group \(16\)/.test(e.message),
  );
  const wide = { ...TX16, forward: { rows: 64, cols: 32, threadsPerRowGroup: 32 } }; // 512 threads
  if (ops.runtime.limits.maxComputeInvocationsPerWorkgroup < 512) {
    assert.throws(
      () => ops.run(flashAttention.forward, g, { ...s, tiles: wide }),
      (e) => e instanceof UserError && /threads/.test(e.message),
    );
  }
});
