"""transformers peer for `dev/bench_generate.ts`: GPT-2 (random init) generation with the KV cache, fp32, eager.

GPT2LMHeadModel from a GPT2Config of the same shape, `generate` with sampling (top-k 0, temperature 1) for a fixed
number of new tokens (min_new_tokens = max_new_tokens, so EOS does not end it early), batch `--batch` (the same
prompt repeated: independent samples). Measured on the same machine in the same device call as the WebGPU run.

    python3 dev/bench_generate_torch.py --layers 12 --heads 12 --channels 768 --tokens 512 --batch 1
Prints one JSON line: {"tokens_per_s": ..., "seconds": ..., "max_memory_gib": ...}.
"""
import argparse
import json
import time

import torch
from transformers import GPT2Config, GPT2LMHeadModel


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--layers", type=int, default=12)
    p.add_argument("--heads", type=int, default=12)
    p.add_argument("--channels", type=int, default=768)
    p.add_argument("--tokens", type=int, default=512)
    p.add_argument("--batch", type=int, default=1)
    a = p.parse_args()
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    cfg = GPT2Config(n_layer=a.layers, n_head=a.heads, n_embd=a.channels, n_positions=1024, vocab_size=50257)
    model = GPT2LMHeadModel(cfg).to(dev).eval()
    prompt = torch.full((a.batch, 1), 50256, dtype=torch.long, device=dev)
    kwargs = dict(do_sample=True, top_k=0, max_new_tokens=a.tokens, min_new_tokens=a.tokens, pad_token_id=50256)
    with torch.no_grad():
        model.generate(prompt, **{**kwargs, "max_new_tokens": 8, "min_new_tokens": 8})  # warm-up
        if dev == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        out = model.generate(prompt, **kwargs)
        if dev == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
    new = (out.shape[1] - 1) * a.batch
    memory = torch.cuda.max_memory_allocated() / 2**30 if dev == "cuda" else float("nan")
    print(json.dumps({
        "torch": torch.__version__,
        "batch": a.batch,
        "tokens": new,
        "seconds": round(seconds, 3),
        "tokens_per_s": round(new / seconds, 1),
        "max_memory_gib": round(memory, 2),
    }))


if __name__ == "__main__":
    main()
