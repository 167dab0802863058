/**
 * The CPU backend: `Ops` over Float32Array views of the shared WebAssembly memory. Every op runs the scalar
 * reference layer from `layers/`; matmul and attention (nearly all of the work) go to an optional kernels object
 * instead, such as the multicore WebAssembly SIMD `CpuKernels`, when one is given.
 *
 * @module
 */
import type { AdamWHyper, Ops } from "../model/ops.ts";
import { adamwUpdate, gradNormSquared } from "../layers/adamw.ts";
import { attentionBackward, attentionDecode, attentionForward } from "../layers/attention.ts";
import { encoderBackward, encoderForward } from "../layers/encoder.ts";
import { geluBackward, geluForward } from "../layers/gelu.ts";
import { layernormBackward, layernormForward } from "../layers/layernorm.ts";
import { matmulBackward, matmulForward } from "../layers/matmul.ts";
import { residualForward } from "../layers/residual.ts";
import { softmaxCrossEntropyBackward, softmaxCrossEntropyForward } from "../layers/softmax_crossentropy.ts";

/**
 * The heavy ops a faster CPU implementation can take over, with the same buffers and sizes as `Ops` (all buffers are
 * views into one shared WebAssembly memory) and the same results up to float rounding. Calls are synchronous.
 */
export interface CpuHeavyKernels {
  /** As `Ops.matmulForward`. */
  matmulForward: Ops<Float32Array, Int32Array>["matmulForward"];
  /** As `Ops.matmulBackward`. */
  matmulBackward: Ops<Float32Array, Int32Array>["matmulBackward"];
  /** As `Ops.attentionForward`. */
  attentionForward: Ops<Float32Array, Int32Array>["attentionForward"];
  /** As `Ops.attentionBackward`. */
  attentionBackward: Ops<Float32Array, Int32Array>["attentionBackward"];
  /** Optional: as `Ops.geluForward`. */
  geluForward?: Ops<Float32Array, Int32Array>["geluForward"];
  /** Optional: as `Ops.geluBackward`. */
  geluBackward?: Ops<Float32Array, Int32Array>["geluBackward"];
  /** Optional: as `Ops.softmaxCrossEntropyForward` (targets must live in the same shared memory). */
  softmaxCrossEntropyForward?: Ops<Float32Array, Int32Array>["softmaxCrossEntropyForward"];
  /** Optional: as `Ops.adamwUpdate`. */
  adamwUpdate?: Ops<Float32Array, Int32Array>["adamwUpdate"];
  /** Optional: Σ grads², returned. */
  gradNormSquared?(b: { grads: Float32Array }, s: { n: number }): number;
}

/**
 * `Ops` on the CPU. Tensors are Float32Array / Int32Array views; `view` is `subarray`.
 *
 * @example
 * ```ts
 * import { CpuOps } from "./backend.ts";
 * const ops = new CpuOps();
 * const out = new Float32Array(2);
 * ops.residualForward({ out, inp1: new Float32Array([1, 2]), inp2: new Float32Array([3, 4]) }, { N: 2 });
 * if ((await ops.read(out))[1] !== 6) throw new Error("2 + 4 = 6");
 * ```
 */
export class CpuOps implements Ops<Float32Array, Int32Array> {
  readonly #kernels?: CpuHeavyKernels;
  #gradNormSquared = 0;

  /**
   * Makes the backend.
   *
   * @param kernels Optional faster matmul and attention (e.g. `CpuKernels`); the scalar layers are used otherwise.
   */
  constructor(kernels?: CpuHeavyKernels) {
    this.#kernels = kernels;
  }

  /** Whether matmul and attention run on the kernels object rather than the scalar reference. */
  get hasKernels(): boolean {
    return this.#kernels !== undefined;
  }

  view(t: Float32Array, offset: number, length: number): Float32Array {
    if (offset < 0 || offset + length > t.length) {
      throw new RangeError(`view [${offset}, ${offset + length}) is outside a tensor of ${t.length} elements`);
    }
    return t.subarray(offset, offset + length);
  }

  zero(t: Float32Array): void {
    t.fill(0);
  }

  encoderForward(
    b: { out: Float32Array; inp: Int32Array; wte: Float32Array; wpe: Float32Array },
    s: { B: number; T: number; C: number },
  ): void {
    encoderForward(b, s);
  }

  encoderBackward(
    b: { dwte: Float32Array; dwpe: Float32Array; dout: Float32Array; inp: Int32Array },
    s: { B: number; T: number; C: number },
  ): void {
    encoderBackward(b, s);
  }

  layernormForward(
    b: {
      out: Float32Array;
      mean: Float32Array;
      rstd: Float32Array;
      inp: Float32Array;
      weight: Float32Array;
      bias: Float32Array;
    },
    s: { N: number; C: number },
  ): void {
    layernormForward(b, s);
  }

  layernormBackward(
    b: {
      dinp: Float32Array;
      dweight: Float32Array;
      dbias: Float32Array;
      dout: Float32Array;
      inp: Float32Array;
      weight: Float32Array;
      mean: Float32Array;
      rstd: Float32Array;
    },
    s: { N: number; C: number },
  ): void {
    layernormBackward(b, s);
  }

  matmulForward(
    b: { out: Float32Array; inp: Float32Array; weight: Float32Array; bias?: Float32Array },
    s: { N: number; C: number; OC: number },
  ): void {
    if (this.#kernels) this.#kernels.matmulForward(b, s);
    else matmulForward(b, s);
  }

  matmulBackward(
    b: {
      dinp: Float32Array;
      dweight: Float32Array;
      dbias?: Float32Array;
      dout: Float32Array;
      inp: Float32Array;
      weight: Float32Array;
    },
    s: { N: number; C: number; OC: number },
  ): void {
    if (this.#kernels) this.#kernels.matmulBackward(b, s);
    else matmulBackward(b, s);
  }

  attentionForward(
    b: { out: Float32Array; preatt: Float32Array; att: Float32Array; inp: Float32Array },
    s: { B: number; T: number; C: number; NH: number },
  ): void {
    if (this.#kernels) this.#kernels.attentionForward(b, s);
    else attentionForward(b, s);
  }

  attentionDecode(b: { out: Float32Array; inp: Float32Array }, s: { pos: number; C: number; NH: number }): void {
    attentionDecode(b, s);
  }

  attentionBackward(
    b: {
      dinp: Float32Array;
      dpreatt: Float32Array;
      datt: Float32Array;
      dout: Float32Array;
      inp: Float32Array;
      att: Float32Array;
    },
    s: { B: number; T: number; C: number; NH: number },
  ): void {
    if (this.#kernels) this.#kernels.attentionBackward(b, s);
    else attentionBackward(b, s);
  }

  geluForward(b: { out: Float32Array; inp: Float32Array }, s: { N: number }): void {
    if (this.#kernels?.geluForward) this.#kernels.geluForward(b, s);
    else geluForward(b, s);
  }

  geluBackward(b: { dinp: Float32Array; inp: Float32Array; dout: Float32Array }, s: { N: number }): void {
    if (this.#kernels?.geluBackward) this.#kernels.geluBackward(b, s);
    else geluBackward(b, s);
  }

  residualForward(b: { out: Float32Array; inp1: Float32Array; inp2: Float32Array }, s: { N: number }): void {
    residualForward(b, s);
  }

  softmaxCrossEntropyForward(
    b: { losses: Float32Array; probs: Float32Array; logits: Float32Array; targets: Int32Array },
    s: { N: number; V: number; Vp: number },
  ): void {
    if (this.#kernels?.softmaxCrossEntropyForward) this.#kernels.softmaxCrossEntropyForward(b, s);
    else softmaxCrossEntropyForward(b, s);
  }

  softmaxCrossEntropyBackward(
    b: { dlogits: Float32Array; probs: Float32Array; targets: Int32Array },
    s: { N: number; V: number; Vp: number; dloss: number },
  ): void {
    softmaxCrossEntropyBackward(b, s);
  }

  adamwUpdate(
    b: { params: Float32Array; grads: Float32Array; m: Float32Array; v: Float32Array },
    s: { n: number },
    hyper: AdamWHyper,
  ): void {
    if (this.#kernels?.adamwUpdate) this.#kernels.adamwUpdate(b, s, hyper);
    else adamwUpdate(b, s, hyper);
  }

  gradNormSquared(b: { grads: Float32Array }, s: { n: number }): void {
    this.#gradNormSquared = this.#kernels?.gradNormSquared
      ? this.#kernels.gradNormSquared(b, s)
      : gradNormSquared(b, s);
  }

  readGradNormSquared(): Promise<number> {
    return Promise.resolve(this.#gradNormSquared);
  }

  read(t: Float32Array): Promise<Float32Array> {
    return Promise.resolve(t.slice());
  }

  write(t: Float32Array, data: Float32Array): void {
    if (data.length !== t.length) throw new RangeError(`write of ${data.length} elements into ${t.length}`);
    t.set(data);
  }

  writeInt(t: Int32Array, data: Int32Array): void {
    if (data.length !== t.length) throw new RangeError(`writeInt of ${data.length} elements into ${t.length}`);
    t.set(data);
  }
}
