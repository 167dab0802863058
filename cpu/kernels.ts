/**
 * The CPU backend's hot loops: matmul forward/backward and causal attention forward/backward as WebAssembly
 * SIMD generated at run time (`cpu/wasm/`), spread over Workers that share the tensors' WebAssembly.Memory.
 * Calls are synchronous: the main thread publishes a job, takes its share of the work items, then waits
 * (`Atomics.wait`) for the Workers. Results are bit-identical for any thread count (see `cpu/wasm/jobs.ts`).
 *
 * @module
 */
import { ATT, BWD, CTRL, CTRL_BYTES, FWD, KIND, PARAM_SLOTS, PARAMS_BYTE, runItem, runJob } from "./wasm/jobs.ts";
import { buildKernelModule, type KernelExports, type KernelModuleOptions } from "./wasm/module.ts";

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

/** Cache blocking (bytes of the operand panel kept in L2 per block); shapes-only, never thread-dependent. */
const FWD_PANEL_BYTES = 192 * 1024; // weight rows per forward item
const DINP_PANEL_BYTES = 256 * 1024; // weight[kb, jb] block per dinp step
const DW_PANEL_BYTES = 256 * 1024; // inp[kb, jb] block per dweight step
const DINP_COLS = 128; // dinp columns per item
/** Jobs below this many flops run on the calling thread alone (waking Workers costs tens of microseconds). */
const PARALLEL_MIN_FLOPS = 1 << 21;

/** Options of {@link CpuKernels.create} beyond the thread count. */
export interface CpuKernelsOptions extends KernelModuleOptions {
  /** Jobs with fewer flops run on the caller alone (default 2^21; tests use 0 to exercise the Workers). */
  parallelMinFlops?: number;
}

const ceilDiv = (a: number, b: number) => Math.ceil(a / b);
const roundUp = (a: number, m: number) => ceilDiv(a, m) * m;

/** Matmul and attention kernels over one shared memory, run on `threads` threads (the caller's included). */
export class CpuKernels {
  readonly #memory: WebAssembly.Memory;
  readonly #ex: KernelExports;
  readonly #workers: Worker[];
  readonly #ctrl: Int32Array;
  readonly #p: Float64Array;
  readonly #parallelMinFlops: number;
  #closed = false;

  private constructor(
    memory: WebAssembly.Memory,
    ex: KernelExports,
    workers: Worker[],
    ctrl: SharedArrayBuffer,
    parallelMinFlops: number,
  ) {
    this.#memory = memory;
    this.#parallelMinFlops = parallelMinFlops;
    this.#ex = ex;
    this.#workers = workers;
    this.#ctrl = new Int32Array(ctrl, 0, PARAMS_BYTE / 4);
    this.#p = new Float64Array(ctrl, PARAMS_BYTE, PARAM_SLOTS);
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
      const w = new Worker(new URL("./worker.ts", import.meta.url), { type: "module" });
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
    const ex = instance.exports as unknown as KernelExports;
    return new CpuKernels(memory, ex, workers, ctrl, opts.parallelMinFlops ?? PARALLEL_MIN_FLOPS);
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
    b: { out: Float32Array; inp: Float32Array; weight: Float32Array; bias?: Float32Array },
    s: MatmulSizes,
  ): void {
    const { N, C, OC } = sizes("matmulForward", s, ["N", "C", "OC"]);
    const out = this.#addr("out", b.out, N * OC), inp = this.#addr("inp", b.inp, N * C);
    const w = this.#addr("weight", b.weight, OC * C);
    const bias = b.bias ? this.#addr("bias", b.bias, OC) : 0;
    // Items: panels of weight rows that fit in L2 × row blocks (rows split only when panels are few).
    const P = Math.min(roundUp(OC, 2), Math.max(2, Math.floor(FWD_PANEL_BYTES / (C * 4) / 2) * 2));
    const nP = ceilDiv(OC, P), want = 4 * this.threads;
    const RB = roundUp(ceilDiv(N, nP >= want ? 1 : Math.min(ceilDiv(N, 4), ceilDiv(want, nP))), 4);
    const nRB = ceilDiv(N, RB);
    const p = this.#p;
    [p[FWD.out], p[FWD.inp], p[FWD.w], p[FWD.bias], p[FWD.hasBias]] = [out, inp, w, bias, b.bias ? 1 : 0];
    [p[FWD.N], p[FWD.C], p[FWD.OC], p[FWD.P], p[FWD.RB], p[FWD.nRB]] = [N, C, OC, P, RB, nRB];
    this.#run(KIND.MM_FWD, nP * nRB, 2 * N * C * OC);
  }

  /** dinp (N,C) = dout · weight (written); dweight (OC,C) += doutᵀ · inp; dbias (OC) += Σ_n dout. */
  matmulBackward(
    b: {
      dinp: Float32Array;
      dweight: Float32Array;
      dbias?: Float32Array;
      dout: Float32Array;
      inp: Float32Array;
      weight: Float32Array;
    },
    s: MatmulSizes,
  ): void {
    const { N, C, OC } = sizes("matmulBackward", s, ["N", "C", "OC"]);
    const dinp = this.#addr("dinp", b.dinp, N * C), dweight = this.#addr("dweight", b.dweight, OC * C);
    const dbias = b.dbias ? this.#addr("dbias", b.dbias, OC) : 0;
    const dout = this.#addr("dout", b.dout, N * OC), inp = this.#addr("inp", b.inp, N * C);
    const weight = this.#addr("weight", b.weight, OC * C);
    const want = 4 * this.threads;
    // dinp items: column blocks × row blocks; weight[kb, jb] blocks of KB rows fit in L2.
    const JB = Math.min(DINP_COLS, roundUp(C, 8));
    const KB = Math.max(8, Math.floor(DINP_PANEL_BYTES / (JB * 4)));
    const nJ = ceilDiv(C, JB);
    const RB = roundUp(ceilDiv(N, nJ >= want ? 1 : Math.min(ceilDiv(N, 4), ceilDiv(want, nJ))), 4);
    const nRB = ceilDiv(N, RB);
    // dweight items: blocks of output channels; inp[kb, jb] blocks fit in L2.
    const KBw = Math.min(N, 256);
    const JBw = Math.max(8, Math.min(roundUp(C, 8), Math.floor(DW_PANEL_BYTES / (KBw * 4) / 8) * 8));
    const OB = Math.max(4, Math.min(256, roundUp(ceilDiv(OC, want), 4)));
    const p = this.#p;
    [p[BWD.dinp], p[BWD.dweight], p[BWD.dbias], p[BWD.hasBias]] = [dinp, dweight, dbias, b.dbias ? 1 : 0];
    [p[BWD.dout], p[BWD.inp], p[BWD.weight], p[BWD.N], p[BWD.C], p[BWD.OC]] = [dout, inp, weight, N, C, OC];
    [p[BWD.JB], p[BWD.KB], p[BWD.RB], p[BWD.nRB], p[BWD.nDinp]] = [JB, KB, RB, nRB, nJ * nRB];
    [p[BWD.OB], p[BWD.JBw], p[BWD.KBw]] = [OB, JBw, KBw];
    this.#run(KIND.MM_BWD, nJ * nRB + ceilDiv(OC, OB), 4 * N * C * OC);
  }

  /** Causal attention: inp = qkv (B,T,3C) -> out (B,T,C); preatt, att (B,NH,T,T) saved for backward. */
  attentionForward(
    b: { out: Float32Array; preatt: Float32Array; att: Float32Array; inp: Float32Array },
    s: AttentionSizes,
  ): void {
    const { B, T, C, NH } = this.#attentionSizes("attentionForward", s);
    const p = this.#p;
    p[ATT.a] = this.#addr("out", b.out, B * T * C);
    p[ATT.b] = this.#addr("preatt", b.preatt, B * NH * T * T);
    p[ATT.c] = this.#addr("att", b.att, B * NH * T * T);
    p[ATT.inp] = this.#addr("inp", b.inp, B * T * 3 * C);
    [p[ATT.B], p[ATT.T], p[ATT.C], p[ATT.NH]] = [B, T, C, NH];
    this.#run(KIND.ATT_FWD, B * NH, 2 * B * T * T * C);
  }

  /** dinp (B,T,3C) written in full from dout (B,T,C); dpreatt and datt (B,NH,T,T) are scratch. */
  attentionBackward(
    b: {
      dinp: Float32Array;
      dpreatt: Float32Array;
      datt: Float32Array;
      dout: Float32Array;
      inp: Float32Array;
      att: Float32Array;
    },
    s: AttentionSizes,
  ): void {
    const { B, T, C, NH } = this.#attentionSizes("attentionBackward", s);
    const p = this.#p;
    p[ATT.a] = this.#addr("dinp", b.dinp, B * T * 3 * C);
    p[ATT.b] = this.#addr("dpreatt", b.dpreatt, B * NH * T * T);
    p[ATT.c] = this.#addr("datt", b.datt, B * NH * T * T);
    p[ATT.d] = this.#addr("dout", b.dout, B * T * C);
    p[ATT.inp] = this.#addr("inp", b.inp, B * T * 3 * C);
    p[ATT.att] = this.#addr("att", b.att, B * NH * T * T);
    [p[ATT.B], p[ATT.T], p[ATT.C], p[ATT.NH]] = [B, T, C, NH];
    this.#run(KIND.ATT_BWD, B * NH, 4 * B * T * T * C);
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

  #attentionSizes(op: string, s: AttentionSizes): AttentionSizes {
    const r = sizes(op, s, ["B", "T", "C", "NH"]);
    if (r.C % r.NH !== 0) throw new Error(`${op}: C (${r.C}) must be a multiple of NH (${r.NH})`);
    return r;
  }

  // The byte address of `a` in the shared memory, after checking it is a view of it with `n` elements.
  #addr(name: string, a: Float32Array, n: number): number {
    if (!(a instanceof Float32Array) || a.buffer !== this.#memory.buffer) {
      throw new Error(`${name} must be a Float32Array view of the kernels' shared WebAssembly.Memory`);
    }
    if (a.length < n) throw new Error(`${name} has ${a.length} elements, needs ${n}`);
    return a.byteOffset;
  }

  // Runs `items` items of the job whose parameters are set: here alone if small, else with the Workers.
  #run(kind: number, items: number, flops: number): void {
    if (this.#closed) throw new Error("CpuKernels used after close()");
    const c = this.#ctrl;
    if (this.#workers.length === 0 || flops < this.#parallelMinFlops || items === 1) {
      for (let i = 0; i < items; i++) runItem(this.#ex, kind, this.#p, i);
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
      runJob(this.#ex, c, this.#p);
    } catch (err) {
      error = err;
    }
    const n = this.#workers.length;
    for (let d = Atomics.load(c, CTRL.DONE); d < n; d = Atomics.load(c, CTRL.DONE)) Atomics.wait(c, CTRL.DONE, d);
    if (error) throw error;
    if (c[CTRL.ERR]) throw new Error("A CPU kernel worker failed; see its error above");
  }
}

function sizes<K extends string>(op: string, s: Record<K, number>, keys: K[]): Record<K, number> {
  for (const k of keys) {
    const v = s[k];
    if (!Number.isInteger(v) || v < 1) throw new Error(`${op}: ${k} must be a positive integer, got ${v}`);
  }
  return s;
}
