/**
 * The CPU backend's hot loops as WebAssembly SIMD generated at run time (`cpu/wasm/`), spread over Workers that
 * share the tensors' WebAssembly.Memory: matmul forward/backward and causal attention forward/backward (the
 * `wasm` forms of the op records in `layers/`), plus AdamW, the squared gradient norm, GELU and the fused softmax +
 * cross-entropy (forward and in-place backward), which a backend may route here too.
 *
 * Calls are synchronous: the main thread publishes a job, takes its share of the work items, then waits
 * (`Atomics.wait`) for the Workers. Results are bit-identical for any thread count and any cache blocking (see
 * `cpu/wasm/jobs.ts`).
 *
 * The Workers are started on this very module (`new Worker(import.meta.url)`), whose import of `./worker.ts`
 * installs the Worker's message handler when it is evaluated in a Worker named `KERNEL_WORKER_NAME`. So the same
 * code works from a checkout, a URL import, the single-file bundle `dist/gpt2.js` (where `import.meta.url` is the
 * bundle itself) and a `deno compile` executable, with no second file to ship.
 *
 * @module
 */
import type { ADAMW_UPDATE } from "../layers/adamw.ts";
import type { ATTENTION_BACKWARD, ATTENTION_FORWARD } from "../layers/attention.ts";
import type { GELU_BACKWARD, GELU_FORWARD } from "../layers/gelu.ts";
import type { MATMUL_BACKWARD, MATMUL_FORWARD } from "../layers/matmul.ts";
import type { SOFTMAX_CROSSENTROPY_BACKWARD, SOFTMAX_CROSSENTROPY_FORWARD } from "../layers/softmax_crossentropy.ts";
import type { CpuBuffers } from "../layers/_op.ts";
import { type AdamWHyper, adamwScalars } from "../layers/adamw.ts";
import {
  ADAMW,
  ATT_BWD,
  ATT_FWD,
  controlViews,
  CTRL,
  CTRL_BYTES,
  GELU_BWD,
  GELU_FWD,
  KIND,
  MM_BWD,
  MM_FWD,
  runItem,
  runJob,
  SOFTMAX,
  SUM_SLOTS,
  SUMSQ,
  type ThreadContext,
  XENT_BWD,
} from "./wasm/jobs.ts";
import type { KernelExports } from "./wasm/exports.ts";
import { buildKernelModule, DEFAULT_GEMM_TILE, DEFAULT_NT_TILE, type KernelModuleOptions } from "./wasm/module.ts";
import { type Blocking, DEFAULT_BLOCKING, planBackward, planForward } from "./wasm/plan.ts";
import { KERNEL_WORKER_NAME } from "./worker.ts";
import { attentionSizes, positiveSizes as sizes, rowSizes, viewAddress } from "./_checks.ts";

/** Matmul sizes: N rows, C input channels, OC output channels. */
export interface MatmulSizes {
  N: number;
  C: number;
  OC: number;
}
/** Attention sizes: B batch, T time, C channels, NH heads. */
export interface AttentionSizes {
  B: number;
  T: number;
  C: number;
  NH: number;
}

/** Jobs below this many flops run on the calling thread alone (waking Workers costs tens of microseconds). */
const PARALLEL_MIN_FLOPS = 1 << 21;
/** Elements per work item of the pointwise kernels (256 KiB of float32). */
const CHUNK = 1 << 16;

/** Options of {@link CpuKernels.create} beyond the thread count. */
export interface CpuKernelsOptions extends KernelModuleOptions {
  /** Jobs with fewer flops run on the caller alone (default 2^21; tests use 0 to exercise the Workers). */
  parallelMinFlops?: number;
  /** Cache blocking (default {@link DEFAULT_BLOCKING}); results do not depend on it. */
  blocking?: Partial<Blocking>;
}

/** The kernels over one shared memory, run on `threads` threads (the caller's included). */
export class CpuKernels {
  readonly #memory: WebAssembly.Memory;
  readonly #t: ThreadContext;
  readonly #workers: Worker[];
  readonly #ctrl: Int32Array;
  readonly #p: Float64Array;
  readonly #parallelMinFlops: number;
  readonly #blocking: Blocking;
  readonly #tiles: { nt: { R: number; S: number }; gemm: { R: number; S: number } };
  #closed = false;

  private constructor(
    memory: WebAssembly.Memory,
    ex: KernelExports,
    workers: Worker[],
    ctrl: SharedArrayBuffer,
    opts: CpuKernelsOptions,
  ) {
    this.#memory = memory;
    this.#parallelMinFlops = opts.parallelMinFlops ?? PARALLEL_MIN_FLOPS;
    this.#blocking = { ...DEFAULT_BLOCKING, ...opts.blocking };
    this.#tiles = { nt: opts.ntTile ?? DEFAULT_NT_TILE, gemm: opts.gemmTile ?? DEFAULT_GEMM_TILE };
    this.#t = { ex, memory, ...controlViews(ctrl) };
    this.#workers = workers;
    this.#ctrl = this.#t.ctrl;
    this.#p = this.#t.p;
  }

  /**
   * Compiles the kernels and starts `threads - 1` Workers sharing `memory`.
   *
   * @param memory A shared WebAssembly.Memory holding every tensor passed to the kernels.
   * @param threads Threads in all, the caller's included (default: one per core).
   * @param opts Tests and benchmarks: relaxed SIMD on or off, register tiles, the parallel threshold.
   * @returns Ready kernels; call `close()` when done.
   * @example
   * ```ts
   * import { CpuKernels } from "./kernels.ts";
   * const memory = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
   * const k = await CpuKernels.create(memory, 2);
   * const [out, inp, weight] = [0, 1024, 2048].map((o) => new Float32Array(memory.buffer, o, 4));
   * inp.set([1, 2, 3, 4]);
   * weight.set([1, 1, 1, 1]); // OC = 1
   * k.matmulForward({ out, inp, weight }, { N: 1, C: 4, OC: 1 });
   * k.close();
   * if (out[0] !== 10) throw new Error("expected 1 + 2 + 3 + 4");
   * ```
   */
  static async create(
    memory: WebAssembly.Memory,
    threads: number = navigator.hardwareConcurrency,
    opts: CpuKernelsOptions = {},
  ): Promise<CpuKernels> {
    if (!(memory.buffer instanceof SharedArrayBuffer)) {
      throw new Error("CpuKernels needs a shared WebAssembly.Memory (create it with shared: true)");
    }
    if (!Number.isInteger(threads) || threads < 1) throw new Error(`Thread count must be >= 1, got ${threads}`);
    const bytes = buildKernelModule(opts);
    const module = await WebAssembly.compile(bytes);
    const instance = await WebAssembly.instantiate(module, { env: { memory } });
    const ctrl = new SharedArrayBuffer(CTRL_BYTES);
    const workers: Worker[] = [];
    const ready: Promise<void>[] = [];
    for (let i = 1; i < threads; i++) {
      const w = new Worker(import.meta.url, { type: "module", name: KERNEL_WORKER_NAME });
      workers.push(w);
      ready.push(
        new Promise((resolve, reject) => {
          w.onmessage = () => resolve();
          w.onerror = (e) => {
            e.preventDefault();
            reject(new Error(`CPU kernel worker failed to start: ${e.message}`));
          };
        }),
      );
      w.postMessage({ bytes, memory, ctrl });
    }
    try {
      await Promise.all(ready);
    } catch (err) {
      for (const w of workers) w.terminate();
      throw err;
    }
    return new CpuKernels(memory, instance.exports as unknown as KernelExports, workers, ctrl, opts);
  }

  /** Threads in all (Workers + the caller). */
  get threads(): number {
    return this.#workers.length + 1;
  }

  /** Work items run by the Workers so far (tests use it to check that the work is really shared). */
  get workerItems(): number {
    return Atomics.load(this.#ctrl, CTRL.WORKER_ITEMS);
  }

  /** out (N,OC) = inp (N,C) · weight (OC,C)ᵀ + bias (OC). */
  matmulForward(
    b: CpuBuffers<typeof MATMUL_FORWARD>,
    s: MatmulSizes,
  ): void {
    const { N, C, OC } = sizes("matmulForward", s, ["N", "C", "OC"]);
    const out = viewAddress(this.#memory, "out", b.out, N * OC), inp = viewAddress(this.#memory, "inp", b.inp, N * C);
    const weight = viewAddress(this.#memory, "weight", b.weight, OC * C);
    const bias = b.bias ? viewAddress(this.#memory, "bias", b.bias, OC) : 0;
    this.#set(MM_FWD, { out, inp, weight, bias, hasBias: b.bias ? 1 : 0, N, C, OC });
    this.#run(KIND.MM_FWD, planForward(this.#p, this.threads, this.#tiles.nt, this.#blocking), 2 * N * C * OC);
  }

  /** dinp (N,C) = dout · weight (written); dweight (OC,C) += doutᵀ · inp; dbias (OC) += Σ_n dout. */
  matmulBackward(
    b: CpuBuffers<typeof MATMUL_BACKWARD>,
    s: MatmulSizes,
  ): void {
    const { N, C, OC } = sizes("matmulBackward", s, ["N", "C", "OC"]);
    const dinp = viewAddress(this.#memory, "dinp", b.dinp, N * C),
      dweight = viewAddress(this.#memory, "dweight", b.dweight, OC * C);
    const dbias = b.dbias ? viewAddress(this.#memory, "dbias", b.dbias, OC) : 0;
    const dout = viewAddress(this.#memory, "dout", b.dout, N * OC),
      inp = viewAddress(this.#memory, "inp", b.inp, N * C);
    const weight = viewAddress(this.#memory, "weight", b.weight, OC * C);
    this.#set(MM_BWD, { dinp, dweight, dbias, hasBias: b.dbias ? 1 : 0, dout, inp, weight, N, C, OC });
    this.#run(KIND.MM_BWD, planBackward(this.#p, this.threads, this.#tiles.gemm, this.#blocking), 4 * N * C * OC);
  }

  /** Causal attention: inp = qkv (B,T,3C) -> out (B,T,C); preatt, att (B,NH,T,T) saved for backward. */
  attentionForward(
    b: CpuBuffers<typeof ATTENTION_FORWARD>,
    s: AttentionSizes,
  ): void {
    const { B, T, C, NH } = attentionSizes("attentionForward", s);
    this.#set(ATT_FWD, {
      out: viewAddress(this.#memory, "out", b.out, B * T * C),
      preatt: viewAddress(this.#memory, "preatt", b.preatt, B * NH * T * T),
      att: viewAddress(this.#memory, "att", b.att, B * NH * T * T),
      inp: viewAddress(this.#memory, "inp", b.inp, B * T * 3 * C),
      B,
      T,
      C,
      NH,
    });
    this.#run(KIND.ATT_FWD, B * NH, 2 * B * T * T * C);
  }

  /** dinp (B,T,3C) written in full from dout (B,T,C); dpreatt and datt (B,NH,T,T) are scratch. */
  attentionBackward(
    b: CpuBuffers<typeof ATTENTION_BACKWARD>,
    s: AttentionSizes,
  ): void {
    const { B, T, C, NH } = attentionSizes("attentionBackward", s);
    this.#set(ATT_BWD, {
      dinp: viewAddress(this.#memory, "dinp", b.dinp, B * T * 3 * C),
      dpreatt: viewAddress(this.#memory, "dpreatt", b.dpreatt, B * NH * T * T),
      datt: viewAddress(this.#memory, "datt", b.datt, B * NH * T * T),
      dout: viewAddress(this.#memory, "dout", b.dout, B * T * C),
      inp: viewAddress(this.#memory, "inp", b.inp, B * T * 3 * C),
      att: viewAddress(this.#memory, "att", b.att, B * NH * T * T),
      B,
      T,
      C,
      NH,
    });
    this.#run(KIND.ATT_BWD, B * NH, 4 * B * T * T * C);
  }

  /**
   * AdamW on n elements (as layers/adamw.ts, in float32): m, v updated in place,
   * params -= lr · (m̂ / (√v̂ + eps) + weightDecay · params), with grads scaled by `gradScale` first.
   */
  adamwUpdate(
    b: CpuBuffers<typeof ADAMW_UPDATE>,
    s: { n: number },
    hyper: AdamWHyper,
  ): void {
    const { n } = sizes("adamwUpdate", s, ["n"]);
    this.#set(ADAMW, {
      params: viewAddress(this.#memory, "params", b.params, n),
      grads: viewAddress(this.#memory, "grads", b.grads, n),
      m: viewAddress(this.#memory, "m", b.m, n),
      v: viewAddress(this.#memory, "v", b.v, n),
      n,
      chunk: CHUNK,
      ...adamwScalars(hyper),
    });
    this.#run(KIND.ADAMW, Math.ceil(n / CHUNK), 12 * n);
  }

  /**
   * Σ grads² over n elements: squares in float32, sums in float64 over fixed chunks (their size depends on n
   * only), the chunks added in order, so the value does not depend on the thread count.
   * @returns The squared L2 norm.
   */
  gradNormSquared(b: { grads: Float32Array }, s: { n: number }): number {
    const { n } = sizes("gradNormSquared", s, ["n"]);
    const chunk = Math.max(CHUNK, Math.ceil(n / SUM_SLOTS / 4) * 4), items = Math.ceil(n / chunk);
    this.#set(SUMSQ, { grads: viewAddress(this.#memory, "grads", b.grads, n), n, chunk });
    this.#run(KIND.SUMSQ, items, 2 * n);
    let sum = 0;
    for (let i = 0; i < items; i++) sum += this.#t.sums[i];
    return sum;
  }

  /** out = GELU(inp) over N elements, tanh approximation (as layers/gelu.ts). */
  geluForward(b: CpuBuffers<typeof GELU_FORWARD>, s: { N: number }): void {
    const { N } = sizes("geluForward", s, ["N"]);
    this.#set(GELU_FWD, {
      out: viewAddress(this.#memory, "out", b.out, N),
      inp: viewAddress(this.#memory, "inp", b.inp, N),
      n: N,
      chunk: CHUNK,
    });
    this.#run(KIND.GELU_FWD, Math.ceil(N / CHUNK), 30 * N);
  }

  /** dinp = GELU'(inp) · dout over N elements (written). */
  geluBackward(b: CpuBuffers<typeof GELU_BACKWARD>, s: { N: number }): void {
    const { N } = sizes("geluBackward", s, ["N"]);
    this.#set(GELU_BWD, {
      dinp: viewAddress(this.#memory, "dinp", b.dinp, N),
      inp: viewAddress(this.#memory, "inp", b.inp, N),
      dout: viewAddress(this.#memory, "dout", b.dout, N),
      n: N,
      chunk: CHUNK,
    });
    this.#run(KIND.GELU_BWD, Math.ceil(N / CHUNK), 40 * N);
  }

  /**
   * Per row of logits (N,Vp), over the first V columns: lse[n] = log Σ exp(logits - max) + max and losses[n] =
   * lse[n] - logits[targets[n]] (as layers/softmax_crossentropy.ts). `targets` must be an Int32Array view of the
   * same memory.
   */
  softmaxCrossEntropyForward(
    b: CpuBuffers<typeof SOFTMAX_CROSSENTROPY_FORWARD>,
    s: { N: number; V: number; Vp: number },
  ): void {
    const { N, V, Vp } = rowSizes(this.#memory, "softmaxCrossEntropyForward", s, b.targets);
    this.#set(SOFTMAX, {
      losses: viewAddress(this.#memory, "losses", b.losses, N),
      lse: viewAddress(this.#memory, "lse", b.lse, N),
      logits: viewAddress(this.#memory, "logits", b.logits, N * Vp),
      targets: b.targets.byteOffset,
      V,
      Vp,
    });
    this.#run(KIND.SOFTMAX, N, 40 * N * V);
  }

  /**
   * The fused classifier's backward, in place: `dlogits` (N,Vp) holds the logits and becomes
   * (exp(logits - lse) - onehot(targets))·dloss, padded columns 0 (as layers/softmax_crossentropy.ts).
   */
  softmaxCrossEntropyBackward(
    b: CpuBuffers<typeof SOFTMAX_CROSSENTROPY_BACKWARD>,
    s: { N: number; V: number; Vp: number; dloss: number },
  ): void {
    const { N, V, Vp } = rowSizes(this.#memory, "softmaxCrossEntropyBackward", s, b.targets);
    this.#set(XENT_BWD, {
      dlogits: viewAddress(this.#memory, "dlogits", b.dlogits, N * Vp),
      lse: viewAddress(this.#memory, "lse", b.lse, N),
      targets: b.targets.byteOffset,
      V,
      Vp,
      dloss: s.dloss,
    });
    this.#run(KIND.XENT_BWD, N, 40 * N * V);
  }

  /** Stops the Workers. The kernels cannot be used afterwards. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const c = this.#ctrl;
    Atomics.store(c, CTRL.KIND, KIND.QUIT);
    Atomics.add(c, CTRL.GEN, 1);
    Atomics.notify(c, CTRL.GEN);
    for (const w of this.#workers) w.terminate();
  }

  // Writes a job's parameters into their slots (the plan's slots, if any, are left to `plan.ts`).
  #set<S extends Record<string, number>>(slots: S, values: { readonly [K in keyof S]?: number }): void {
    const p = this.#p;
    for (const k in values) p[slots[k]] = values[k]!;
  }

  // Runs `items` items of the job whose parameters are set: here alone if small, else with the Workers.
  #run(kind: number, items: number, flops: number): void {
    if (this.#closed) throw new Error("CpuKernels used after close()");
    const c = this.#ctrl;
    if (this.#workers.length === 0 || flops < this.#parallelMinFlops || items === 1) {
      for (let i = 0; i < items; i++) runItem(this.#t, kind, i);
      return;
    }
    c[CTRL.KIND] = kind;
    c[CTRL.ITEMS] = items;
    c[CTRL.NEXT] = 0;
    c[CTRL.DONE] = 0;
    c[CTRL.ERR] = 0;
    Atomics.add(c, CTRL.GEN, 1);
    Atomics.notify(c, CTRL.GEN);
    let error: unknown;
    try {
      runJob(this.#t);
    } catch (err) {
      error = err;
    }
    const n = this.#workers.length;
    for (let d = Atomics.load(c, CTRL.DONE); d < n; d = Atomics.load(c, CTRL.DONE)) Atomics.wait(c, CTRL.DONE, d);
    if (error) throw error;
    if (c[CTRL.ERR]) throw new Error("A CPU kernel worker failed; see its error above");
  }
}
