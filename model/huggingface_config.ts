/**
 * Hugging Face GPT-2 `config.json` ⇄ llm.c's `GPT2Config`: which configs llm.c's GPT-2 can compute, and the config
 * transformers needs to load an exported llm.c model.
 *
 * @module
 */
import { UserError } from "../util/errors.ts";
import { GPT2_EOT, type GPT2Config, padVocab, validateConfig } from "./config.ts";

/** Activations transformers computes as GELU's tanh approximation, which is what llm.c uses. */
const TANH_GELUS = ["gelu_new", "gelu_pytorch_tanh", "gelu_fast"];

/**
 * Turns a Hugging Face GPT-2 `config.json` into llm.c's config (vocab padded to a multiple of 128), rejecting models
 * llm.c's GPT-2 cannot compute: another `model_type`, an activation other than tanh-GELU, layernorm eps ≠ 1e-5, an
 * inner MLP width ≠ 4C, unscaled or layer-scaled attention, cross-attention. Missing fields take transformers'
 * GPT2Config defaults.
 *
 * @param json The parsed config.json.
 * @param source Its path, for messages.
 * @returns The config.
 * @throws UserError naming `source` and the field.
 * @example
 * ```ts
 * import { configFromHuggingFace } from "./huggingface_config.ts";
 * const cfg = configFromHuggingFace({ model_type: "gpt2", n_layer: 12, n_head: 12, n_embd: 768 }, "config.json");
 * if (cfg.paddedVocabSize !== 50304 || cfg.maxSeqLen !== 1024) throw new Error("GPT-2 124M");
 * ```
 */
export function configFromHuggingFace(json: unknown, source: string): GPT2Config {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new UserError(`${source}: not a JSON object`);
  }
  const c = json as Record<string, unknown>;
  const reject = (why: string) => new UserError(`${source}: ${why}; llm.ts converts GPT-2 models only`);
  if (c.model_type !== "gpt2") throw reject(`model_type is ${JSON.stringify(c.model_type)}, not "gpt2"`);
  const act = c.activation_function ?? "gelu_new";
  if (!TANH_GELUS.includes(act as string)) {
    throw reject(`activation_function ${JSON.stringify(act)} is not GELU's tanh form (${TANH_GELUS.join(", ")})`);
  }
  const eps = c.layer_norm_epsilon ?? 1e-5;
  if (typeof eps !== "number" || Math.abs(eps - 1e-5) > 1e-12) {
    throw reject(`layer_norm_epsilon ${JSON.stringify(eps)} is not 1e-5`);
  }
  const flag = (key: string, want: boolean) => {
    if ((c[key] ?? want) !== want) throw reject(`${key} is ${JSON.stringify(c[key])}, not ${want}`);
  };
  flag("scale_attn_weights", true);
  flag("scale_attn_by_inverse_layer_idx", false);
  flag("add_cross_attention", false);
  const int = (key: string, fallback: number): number => {
    const v = c[key] ?? fallback;
    if (!Number.isSafeInteger(v) || (v as number) <= 0) {
      throw reject(`${key} ${JSON.stringify(v)} is not a positive integer`);
    }
    return v as number;
  };
  const channels = int("n_embd", 768);
  if (c.n_inner !== undefined && c.n_inner !== null && c.n_inner !== 4 * channels) {
    throw reject(`n_inner ${JSON.stringify(c.n_inner)} is not 4 * n_embd = ${4 * channels}`);
  }
  const vocabSize = int("vocab_size", 50257);
  const cfg: GPT2Config = {
    maxSeqLen: int("n_positions", c.n_ctx === undefined ? 1024 : int("n_ctx", 1024)),
    vocabSize,
    paddedVocabSize: padVocab(vocabSize),
    numLayers: int("n_layer", 12),
    numHeads: int("n_head", 12),
    channels,
  };
  try {
    validateConfig(cfg, source);
  } catch (err) {
    throw new UserError((err as Error).message);
  }
  return cfg;
}

/**
 * The `config.json` that `transformers.GPT2LMHeadModel.from_pretrained` needs for an llm.c model: GPT-2's fixed
 * choices (tanh GELU, eps 1e-5, tied embeddings, scaled attention), dropout as in GPT-2, fp32 weights.
 *
 * @param cfg The llm.c config (the unpadded `vocabSize` becomes `vocab_size`).
 * @returns The JSON object.
 * @example
 * ```ts
 * import { huggingFaceConfigJson } from "./huggingface_config.ts";
 * import { parseModelDescriptor } from "./config.ts";
 * const json = huggingFaceConfigJson(parseModelDescriptor("d12")!);
 * if (json.vocab_size !== 50257 || json.eos_token_id !== 50256) throw new Error("GPT-2's vocab is unpadded");
 * ```
 */
export function huggingFaceConfigJson(cfg: GPT2Config): Record<string, unknown> {
  const eot = cfg.vocabSize > GPT2_EOT ? GPT2_EOT : cfg.vocabSize - 1; // <|endoftext|>, or the last id of a toy vocab
  return {
    architectures: ["GPT2LMHeadModel"],
    model_type: "gpt2",
    activation_function: "gelu_new",
    n_layer: cfg.numLayers,
    n_head: cfg.numHeads,
    n_embd: cfg.channels,
    n_positions: cfg.maxSeqLen,
    n_ctx: cfg.maxSeqLen,
    n_inner: null,
    vocab_size: cfg.vocabSize,
    layer_norm_epsilon: 1e-5,
    initializer_range: 0.02,
    attn_pdrop: 0.1,
    embd_pdrop: 0.1,
    resid_pdrop: 0.1,
    scale_attn_weights: true,
    scale_attn_by_inverse_layer_idx: false,
    reorder_and_upcast_attn: false,
    tie_word_embeddings: true,
    bos_token_id: eot,
    eos_token_id: eot,
    use_cache: true,
    dtype: "float32", // transformers 5's name
    torch_dtype: "float32", // transformers 4's name
  };
}
