/**
 * The `Ops` interface: every computation the GPT-2 model needs, written once in `model/` against this interface
 * and implemented by the CPU backend (TypeScript + WebAssembly SIMD over Workers) and the WebGPU backend (WGSL).
 * Nothing in model code branches on which backend it runs.
 *
 * Conventions (llm.c's): outputs first, `d` prefix for gradients, what backward needs (mean, rstd, att) saved by
 * forward. Parameter gradients ACCUMULATE (`+=`, so gradient accumulation over micro-batches works); activation
 * gradients are WRITTEN (`=`), except `layernormBackward`'s `dinp`, which is ADDED to the residual-stream gradient.
 * Sizes: B batch, T time, C channels, NH heads, N = B*T rows, OC output channels, V vocab, Vp padded vocab.
 *
 * @module
 */

/** Hyperparameters of one AdamW step (llm.c's `gpt2_update`); read when the update runs. */
export interface AdamWHyper {
  learningRate: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** 1-based step number t, for bias correction. */
  step: number;
  /** Multiplier applied to every gradient before the update (clipping: min(1, maxNorm / norm)); 1 for none. */
  gradScale: number;
}

/**
 * A backend. `F` is its float tensor handle (the CPU uses `Float32Array` views), `I` its int32 handle.
 */
export interface Ops<F, I> {
  /** A view of `length` elements of `t` starting at element `offset` (per-layer slices of (L, ...) tensors). */
  view(t: F, offset: number, length: number): F;
  /** Sets every element of `t` to zero. */
  zero(t: F): void;

  /** out (B,T,C) = wte[inp[b,t]] + wpe[t]. */
  encoderForward(b: { out: F; inp: I; wte: F; wpe: F }, s: { B: number; T: number; C: number }): void;
  /** dwte, dwpe += scatter of dout (B,T,C). */
  encoderBackward(b: { dwte: F; dwpe: F; dout: F; inp: I }, s: { B: number; T: number; C: number }): void;

  /** Per row of inp (N,C): out = (x - mean) * rstd * weight + bias, eps 1e-5; mean, rstd (N) saved. */
  layernormForward(
    b: { out: F; mean: F; rstd: F; inp: F; weight: F; bias: F },
    s: { N: number; C: number },
  ): void;
  /** dinp += …, dweight += …, dbias += … . */
  layernormBackward(
    b: { dinp: F; dweight: F; dbias: F; dout: F; inp: F; weight: F; mean: F; rstd: F },
    s: { N: number; C: number },
  ): void;

  /** out (N,OC) = inp (N,C) · weight (OC,C)ᵀ + bias (OC). */
  matmulForward(b: { out: F; inp: F; weight: F; bias?: F }, s: { N: number; C: number; OC: number }): void;
  /** dinp = dout · weight; dweight += doutᵀ · inp; dbias += Σ_rows dout. */
  matmulBackward(
    b: { dinp: F; dweight: F; dbias?: F; dout: F; inp: F; weight: F },
    s: { N: number; C: number; OC: number },
  ): void;

  /**
   * Causal self-attention. inp = qkv (B,T,3C); out (B,T,C); preatt and att (B,NH,T,T) saved for backward
   * (entries above the diagonal are never read).
   */
  attentionForward(
    b: { out: F; preatt: F; att: F; inp: F },
    s: { B: number; T: number; C: number; NH: number },
  ): void;
  /**
   * Causal attention of one query over a prefix, for incremental decoding: `inp` holds the qkv rows (3C each) of
   * positions 0..pos, so the keys and values of the earlier positions act as the KV cache; `out` (C) is the
   * attention output of position pos, equal to row pos of `attentionForward` over the same rows.
   */
  attentionDecode(b: { out: F; inp: F }, s: { pos: number; C: number; NH: number }): void;
  /** dinp (B,T,3C) = …; dpreatt and datt are scratch (B,NH,T,T). */
  attentionBackward(
    b: { dinp: F; dpreatt: F; datt: F; dout: F; inp: F; att: F },
    s: { B: number; T: number; C: number; NH: number },
  ): void;

  /** out = GELU(inp), tanh approximation, N elements. */
  geluForward(b: { out: F; inp: F }, s: { N: number }): void;
  /** dinp = GELU'(inp) * dout. */
  geluBackward(b: { dinp: F; inp: F; dout: F }, s: { N: number }): void;

  /** out = inp1 + inp2, N elements. */
  residualForward(b: { out: F; inp1: F; inp2: F }, s: { N: number }): void;

  /**
   * probs (N,Vp) = softmax over the first V columns of logits (padded columns get probability 0);
   * losses (N) = -log probs[targets].
   */
  softmaxCrossEntropyForward(
    b: { losses: F; probs: F; logits: F; targets: I },
    s: { N: number; V: number; Vp: number },
  ): void;
  /** dlogits (N,Vp) = (probs - onehot(targets)) * dloss, padded columns 0. dloss = 1/N for a mean loss. */
  softmaxCrossEntropyBackward(
    b: { dlogits: F; probs: F; targets: I },
    s: { N: number; V: number; Vp: number; dloss: number },
  ): void;

  /** AdamW on n elements: m, v updated in place, params -= lr * (m̂ / (√v̂ + eps) + wd * param). */
  adamwUpdate(b: { params: F; grads: F; m: F; v: F }, s: { n: number }, hyper: AdamWHyper): void;
  /** Σ grads² over n elements, into the backend's norm slot (read with `readGradNormSquared`). */
  gradNormSquared(b: { grads: F }, s: { n: number }): void;
  /** The value computed by the last `gradNormSquared`. */
  readGradNormSquared(): Promise<number>;

  /** Copies a tensor back to the host (the loss, logits for tests). */
  read(t: F): Promise<Float32Array>;
  /** Copies host data into a tensor. */
  write(t: F, data: Float32Array): void;
  /** Copies host tokens into an int tensor. */
  writeInt(t: I, data: Int32Array): void;
}
