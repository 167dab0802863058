"""Hugging Face GPT-2 fixtures for tests/model/huggingface_test.ts, made by `transformers` itself.

Writes into --out (tests/testdata/hf/ in the repo):
  config.json, model.safetensors   GPT2LMHeadModel.save_pretrained of a small random GPT-2 (fp32; V=97, maxT=32,
                                   L=2, NH=3, C=30), every weight, bias and layernorm parameter random
  model_bf16.safetensors           the same weights in bfloat16 under the hub's names (no `transformer.` prefix,
                                   as in openai-community/gpt2), with the BOOL `attn.bias` causal-mask and
                                   `attn.masked_bias` buffers that old checkpoints carry
  model_f16.safetensors            the same weights in float16 with a stored (tied, equal) `lm_head.weight`
  logits.bin                       float32 little-endian logits (B, T, V), unpadded, for `tokens` in expected.json,
                                   computed by GPT2LMHeadModel in float64 from the fp32 weights
  expected.json                    config, B, T, tokens (B*T ints), versions, seed, the max |fp32 - fp64| logit

With --big DIR it also makes item 4 of issue 6: random `gpt2` (124M) and `gpt2-medium` (350M) from GPT2Config (no
download) saved with save_pretrained into DIR/gpt2 and DIR/gpt2-medium, each with logits.bin + expected.json
for B=2, T=16 (float64 on the GPU when there is one). Those are too big to commit; the test reads them from
LLMTS_HF_VERIFY=DIR/gpt2,DIR/gpt2-medium on the same machine.

With --check-export DIR STATE it loads DIR (written by `gpt2 convert model.bin DIR`) with
GPT2LMHeadModel.from_pretrained, requires no missing or unexpected weights, and prints the max |logit| difference
against the logits in STATE (an llm.c debug state file, e.g. tests/testdata/gpt2vocab/state.bin).

Run where transformers is installed:  python3 tests/testdata/make_hf_fixture.py --out tests/testdata/hf
"""

import argparse
import json
import math
import os

import numpy as np
import torch
import transformers
from safetensors.torch import save_file
from transformers import GPT2Config, GPT2LMHeadModel

SEED = 20240326
# The causal-mask buffers (the leading dot keeps "attn.c_attn.bias" out).
BUFFERS = (".attn.bias", ".attn.masked_bias")


def randomize(model, std):
    """Every parameter random: weights N(0, std^2) (residual projections std/sqrt(2L)), biases N(0, std^2),
    layernorm weights 1 + N(0, 0.1^2), so a wrong mapping of any tensor changes the logits."""
    n_layer = model.config.n_layer
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ".ln_" in name or name.startswith("transformer.ln_f"):
                p.copy_((1.0 if name.endswith("weight") else 0.0) + 0.1 * torch.randn_like(p))
            elif name.endswith("c_proj.weight"):
                p.normal_(0.0, std / math.sqrt(2 * n_layer))
            else:
                p.normal_(0.0, std)


def logits_for(model, tokens):
    """float64 logits of the fp32 weights, and the max |fp32 - fp64| difference of transformers' own forward."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    ids = torch.tensor(tokens, device=device)
    with torch.no_grad():
        f32 = model.to(device).float()(ids).logits.double()
        f64 = model.double()(ids).logits
    model.float().cpu()
    return f64.cpu(), float((f32 - f64).abs().max())


def make(out, config, std, B, T, seed):
    torch.manual_seed(seed)
    config.attn_pdrop = config.embd_pdrop = config.resid_pdrop = 0.0
    model = GPT2LMHeadModel(config).eval()
    randomize(model, std)
    os.makedirs(out, exist_ok=True)
    model.save_pretrained(out)
    gen = torch.Generator().manual_seed(seed + 1)
    tokens = torch.randint(0, config.vocab_size, (B, T), generator=gen).tolist()
    logits, f32_diff = logits_for(model, tokens)
    logits.float().numpy().astype("<f4").tofile(os.path.join(out, "logits.bin"))
    expected = {
        "config": {k: getattr(config, k) for k in ("n_layer", "n_head", "n_embd", "n_positions", "vocab_size")},
        "B": B,
        "T": T,
        "tokens": [t for row in tokens for t in row],
        "seed": seed,
        "fp32_vs_fp64_max_logit_diff": f32_diff,
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "note": "logits.bin: float32 (B, T, vocab_size) from GPT2LMHeadModel in float64; see make_hf_fixture.py",
    }
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")
    print(f"{out}: {sum(p.numel() for p in model.parameters())} params, fp32 vs fp64 logits {f32_diff:.3g}")
    return model


def check_export(directory, state_path):
    model, info = GPT2LMHeadModel.from_pretrained(directory, output_loading_info=True)
    bad = {k: v for k, v in info.items() if v}
    assert not bad, f"{directory}: from_pretrained reported {bad}"
    head = np.fromfile(state_path, dtype="<i4", count=256)
    B, T, V = int(head[2]), int(head[3]), model.config.vocab_size
    x = np.fromfile(state_path, dtype="<i4", count=B * T, offset=1024).reshape(B, T)
    want = np.fromfile(state_path, dtype="<f4", count=B * T * V, offset=1024 + 8 * B * T).reshape(B, T, V)
    with torch.no_grad():
        got = model.double().eval()(torch.tensor(x, dtype=torch.long)).logits.numpy()
    print(f"{directory}: from_pretrained ok, max |logit - {state_path}| = {np.abs(got - want).max():.3g}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="tests/testdata/hf")
    ap.add_argument("--big", help="also make random gpt2 and gpt2-medium with logits here (not committed)")
    ap.add_argument("--check-export", nargs=2, metavar=("DIR", "STATE"), help="check a `gpt2 convert` export")
    args = ap.parse_args()
    if args.check_export:
        check_export(*args.check_export)
        return

    config = GPT2Config(vocab_size=97, n_positions=32, n_embd=30, n_layer=2, n_head=3)
    model = make(args.out, config, 0.1, B=2, T=32, seed=SEED)
    sd = {k: v.detach().clone() for k, v in model.state_dict().items() if not k.startswith("lm_head")}
    hub = {k.removeprefix("transformer."): v.to(torch.bfloat16).contiguous() for k, v in sd.items()
           if not k.endswith(BUFFERS)}
    mask = torch.tril(torch.ones(32, 32, dtype=torch.bool)).view(1, 1, 32, 32)
    for i in range(config.n_layer):
        hub[f"h.{i}.attn.bias"] = mask.clone()
        hub[f"h.{i}.attn.masked_bias"] = torch.tensor(-1e4)
    save_file(hub, os.path.join(args.out, "model_bf16.safetensors"), metadata={"format": "pt"})
    f16 = {k: v.to(torch.float16).contiguous() for k, v in sd.items() if not k.endswith(BUFFERS)}
    f16["lm_head.weight"] = f16["transformer.wte.weight"].clone()
    save_file(f16, os.path.join(args.out, "model_f16.safetensors"), metadata={"format": "pt"})

    if args.big:
        for name, cfg in [("gpt2", GPT2Config()), ("gpt2-medium", GPT2Config(n_layer=24, n_head=16, n_embd=1024))]:
            make(os.path.join(args.big, name), cfg, 0.02, B=2, T=16, seed=SEED + 7)


if __name__ == "__main__":
    main()
