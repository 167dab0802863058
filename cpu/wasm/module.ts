/**
 * Assembles the CPU kernel module (matmul and attention, WebAssembly SIMD) and describes its exports.
 *
 * @module
 */
import { hasRelaxedSimd, ModuleBuilder } from "./encoder.ts";
import { addColsum, addMatmulNN, addMatmulNT, DEFAULT_TILES, madd, type MatmulTiles } from "./matmul.ts";
import { addAttention } from "./attention.ts";

/** What the kernel module exports (pointers and strides in bytes unless noted). */
export interface KernelExports {
  mm_nt(
    out: number,
    inp: number,
    w: number,
    bias: number,
    hasBias: number,
    rows: number,
    cols: number,
    C: number,
    ldo: number,
  ): void;
  mm_nn_kunit(
    c: number,
    ldc: number,
    a: number,
    sar: number,
    sak: number,
    b: number,
    ldb: number,
    rows: number,
    cols: number,
    K: number,
    accumulate: number,
  ): void;
  mm_nn_runit(
    c: number,
    ldc: number,
    a: number,
    sar: number,
    sak: number,
    b: number,
    ldb: number,
    rows: number,
    cols: number,
    K: number,
    accumulate: number,
  ): void;
  colsum(dst: number, src: number, lds: number, rows: number, cols: number): void;
  attn_fwd(out: number, preatt: number, att: number, inp: number, T: number, C: number, hs: number, scale: number): void;
  attn_bwd(
    dinp: number,
    dpreatt: number,
    datt: number,
    dout: number,
    inp: number,
    att: number,
    T: number,
    C: number,
    hs: number,
    scale: number,
  ): void;
}

/** Options for {@link buildKernelModule}. */
export interface KernelModuleOptions {
  /** Use `f32x4.relaxed_madd` (default: if the engine accepts it). */
  relaxed?: boolean;
  /** Register tiles (default {@link DEFAULT_TILES}). */
  tiles?: MatmulTiles;
}

/** Builds the kernel module's bytes; instantiate with `{ env: { memory } }` (a shared memory). */
export function buildKernelModule(opts: KernelModuleOptions = {}): Uint8Array<ArrayBuffer> {
  const fma = madd(opts.relaxed ?? hasRelaxedSimd());
  const tiles = opts.tiles ?? DEFAULT_TILES;
  const m = new ModuleBuilder();
  addMatmulNT(m, fma, tiles);
  addMatmulNN(m, fma, tiles);
  addColsum(m);
  addAttention(m, fma);
  return m.bytes();
}
