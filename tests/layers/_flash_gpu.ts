/**
 * The GPU form of flash attention against its scalar form (layers/flash_attention.ts), outputs NaN-poisoned, for one
 * head size: B = 2, three heads, T = 1, 7, 33, 70 (none a multiple of a tile), with the tiles chosen for this adapter
 * and the tile forms named in `flashGpuTest`. Registered by two test files (flash_attention_test.ts: hs = 64 and 80;
 * flash_attention_tiles_test.ts: hs = 8 with every tile form), so that `deno test --parallel` compiles their shaders
 * on two cores.
 *
 * @module
 */
import {
  flashAttention,
  flashAttentionBackward,
  flashAttentionForward,
  type FlashTile,
  type FlashTiles,
  flashTiles,
  flashTileText,
} from "../../layers/flash_attention.ts";
import { assertClose } from "../_assert.ts";
import { rng, uniform } from "../_random.ts";
import { adapterAvailable, defaultOps, poisoned as gpuPoisoned, upload } from "../gpu/_helpers.ts";

// Scores are float32 sums of hs ≤ 80 products, the softmax sums and outputs sums over T ≤ 70 keys, against the CPU's
// float64: errors are a few float32 ulps of values below ~10 (lse), ~1 (out) and ~5 (dinp, sums of T terms).
const GPU_TOL = { out: { atol: 2e-6, rtol: 1e-5 }, lse: { atol: 4e-6, rtol: 1e-6 }, dinp: { atol: 2e-5, rtol: 1e-4 } };

async function checkGpu(B: number, T: number, C: number, NH: number, tiles?: FlashTiles): Promise<number[]> {
  const ops = await defaultOps();
  const s = { B, T, C, NH, tiles };
  const r = rng(B + 10 * T + C);
  const inp = uniform(r, B * T * 3 * C, 2), dout = uniform(r, B * T * C);
  const out = new Float32Array(B * T * C), lse = new Float32Array(B * NH * T);
  flashAttentionForward({ out, lse, inp }, s);
  const g = {
    out: await gpuPoisoned(ops, B * T * C),
    lse: await gpuPoisoned(ops, B * NH * T),
    inp: await upload(ops, inp),
  };
  ops.run(flashAttention.forward, g, s);
  const diffs = [
    assertClose(await ops.read(g.out), out, GPU_TOL.out, "out"),
    assertClose(await ops.read(g.lse), lse, GPU_TOL.lse, "lse"),
  ];
  // Backward from the CPU's out and lse, so that it is compared on the same inputs.
  const dinp = new Float32Array(B * T * 3 * C);
  flashAttentionBackward({ dinp, dout, inp, out, lse }, s);
  const gb = {
    dinp: await gpuPoisoned(ops, B * T * 3 * C),
    dout: await upload(ops, dout),
    inp: g.inp,
    out: await upload(ops, out),
    lse: await upload(ops, lse),
  };
  ops.run(flashAttention.backward, gb, s);
  diffs.push(assertClose(await ops.read(gb.dinp), dinp, GPU_TOL.dinp, "dinp"));
  return diffs;
}

/** Tiles whose threads take 8 columns each (KPT = 8, the widest form of the score steps): blocks of 64 columns. */
const WIDE: FlashTiles = { forward: { rows: 16, cols: 64 }, dq: { rows: 16, cols: 64 }, dkdv: { rows: 16, cols: 64 } };

/** The tiles a 48 KiB device (the H200) gets at hs = 64: the production code path, here at small sizes. */
const PRODUCTION = flashTiles(64, 49152);

/** The same tile for the three kernels. */
const all = (tile: FlashTile): FlashTiles => ({ forward: tile, dq: tile, dkdv: tile });

/** TX = 16 and 32 (threadsPerRowGroup): twice and four times the threads of the same tiles. */
export const TX16 = all({ rows: 16, cols: 16, threadsPerRowGroup: 16 });
const TX16_WIDE = all({ rows: 16, cols: 64, threadsPerRowGroup: 16 });
const TX16_SMALL = all({ rows: 8, cols: 16, threadsPerRowGroup: 16 });
const TX32 = all({ rows: 8, cols: 32, threadsPerRowGroup: 32 });

const tileText = (t?: FlashTiles) =>
  t ? Object.entries(t).map(([k, tile]) => `${k} ${flashTileText(tile)}`).join(", ") : "the launcher's tiles";

/**
 * Registers the GPU test for head size hs.
 *
 * @param hs 8 (with every tile form), 64 or 80.
 */
export function flashGpuTest(hs: number): void {
  Deno.test({
    name: `gpu flashAttention hs=${hs}: forward and backward vs CPU, B=2 NH=3 T=1,7,33,70`,
    ignore: !adapterAvailable,
    fn: async () => {
      const ops = await defaultOps();
      // The launcher's choice for this adapter; at hs = 8 (little workgroup memory, so quick to compile on a software
      // adapter) also WIDE and the production tiles; on hardware adapters also the production tiles at hs = 64 and
      // those for 16 KiB at every head size (a software adapter would take minutes to compile those).
      const configs: (FlashTiles | undefined)[] = [undefined];
      // (WIDE's dk·dv tile needs more than 48 KiB at hs = 64, so it runs at hs = 8 only.)
      if (hs === 8) configs.push(WIDE, PRODUCTION, TX16, TX16_WIDE, TX32);
      else configs.push(TX16_SMALL);
      if (!ops.runtime.ctx.isFallback && hs === 64) configs.push(PRODUCTION);
      if (!ops.runtime.ctx.isFallback) configs.push(flashTiles(hs, 16384));
      for (const tiles of configs) {
        const worst = [0, 0, 0];
        for (const T of [1, 7, 33, 70]) {
          (await checkGpu(2, T, 3 * hs, 3, tiles)).forEach((d, i) => worst[i] = Math.max(worst[i], d));
        }
        const [o, l, d] = worst.map((x) => x.toExponential(1));
        console.log(`  ${tileText(tiles)}: max abs diff out ${o}, lse ${l}, dinp ${d}`);
      }
    },
  });
}
