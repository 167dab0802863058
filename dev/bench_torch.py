"""PyTorch peer for `deno task bench:gpu`: GPT-2 (random init) training throughput in fp32 with TF32 off.

Same model shape, batch and optimizer as the WebGPU benchmark, measured on the same machine in the same device
call, so the ratio between the two is side by side. A plain nn.Module of our own (no transformers).

    python3 dev/bench_torch.py --layers 12 --heads 12 --channels 768 --batch 16 --seq 1024 --steps 10
Prints one JSON line: {"tokens_per_s": ..., "ms_per_step": ..., "max_memory_gib": ...}.

    python3 dev/bench_torch.py --batch 16 --profile    # then one more step under torch.profiler: its CUDA time by
                                                       # kind of kernel (matmul, attention, ...) and the top kernels
"""
import argparse
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, C, NH):
        super().__init__()
        self.NH = NH
        self.ln1 = nn.LayerNorm(C)
        self.qkv = nn.Linear(C, 3 * C)
        self.attproj = nn.Linear(C, C)
        self.ln2 = nn.LayerNorm(C)
        self.fc = nn.Linear(C, 4 * C)
        self.fcproj = nn.Linear(4 * C, C)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(C, dim=2)
        # (B, NH, T, hs)
        q, k, v = (t.view(B, T, self.NH, C // self.NH).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.attproj(y.transpose(1, 2).reshape(B, T, C))
        return x + self.fcproj(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self, L, NH, C, V, maxT):
        super().__init__()
        self.wte = nn.Embedding(V, C)
        self.wpe = nn.Embedding(maxT, C)
        self.blocks = nn.ModuleList(Block(C, NH) for _ in range(L))
        self.lnf = nn.LayerNorm(C)

    def forward(self, idx, targets):
        T = idx.shape[1]
        x = self.wte(idx) + self.wpe(torch.arange(T, device=idx.device))
        for block in self.blocks:
            x = block(x)
        logits = self.lnf(x) @ self.wte.weight.T  # tied lm head, (B, T, V)
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


# Kinds of CUDA kernel, by name (first match wins): what one training step spends its GPU time on.
KINDS = [
    ("attention", ("fmha", "flash", "attention", "efficient")),
    ("matmul", ("gemm", "sgemm", "cutlass", "xmma", "splitk", "reduce_kernel<")),
    ("optimizer", ("adam", "multi_tensor", "foreach")),
    ("cross-entropy", ("softmax", "nll", "log_softmax")),
    ("layernorm", ("layer_norm", "layernorm")),
]


def kind_of(name):
    lower = name.lower()
    for kind, marks in KINDS:
        if any(mark in lower for mark in marks):
            return kind
    return "other"


def print_profile(train_step):
    """One step under torch.profiler: CUDA ms by kind of kernel, then the 15 kernels that took longest."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        train_step()
        torch.cuda.synchronize()
    kernels = {}
    for e in prof.events():
        if e.device_type == torch.autograd.DeviceType.CUDA:
            calls, us = kernels.get(e.name, (0, 0.0))
            kernels[e.name] = (calls + 1, us + e.time_range.elapsed_us())
    by_kind = {}
    for name, (calls, us) in kernels.items():
        by_kind[kind_of(name)] = by_kind.get(kind_of(name), 0.0) + us
    total = sum(by_kind.values())
    print("| kind | ms | share |")
    print("| --- | ---: | ---: |")
    for kind, us in sorted(by_kind.items(), key=lambda kv: -kv[1]):
        print(f"| {kind} | {us / 1000:.2f} | {100 * us / total:.1f}% |")
    print(f"| total | {total / 1000:.2f} | |")
    print("| kernel | kind | calls | ms |")
    print("| --- | --- | ---: | ---: |")
    for name, (calls, us) in sorted(kernels.items(), key=lambda kv: -kv[1][1])[:15]:
        print(f"| {name[:90]} | {kind_of(name)} | {calls} | {us / 1000:.2f} |")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--layers", type=int, default=12)
    p.add_argument("--heads", type=int, default=12)
    p.add_argument("--channels", type=int, default=768)
    p.add_argument("--vocab", type=int, default=50304)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--seq", type=int, default=1024)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--profile", action="store_true")
    a = p.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(0)
    dev = "cuda"
    model = GPT(a.layers, a.heads, a.channels, a.vocab, 1024).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, betas=(0.9, 0.95), weight_decay=0.0, fused=True)
    x = torch.randint(0, 50257, (a.batch, a.seq), device=dev)
    y = torch.randint(0, 50257, (a.batch, a.seq), device=dev)
    times = []

    def train_step():
        loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss

    for step in range(a.steps + 3):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        loss = train_step()
        torch.cuda.synchronize()
        if step >= 3:
            times.append(time.perf_counter() - t0)
    if a.profile:
        print_profile(train_step)
    times.sort()
    ms = 1000 * times[len(times) // 2]
    print(json.dumps({
        "impl": "pytorch-fp32-notf32", "torch": torch.__version__, "B": a.batch, "T": a.seq,
        "ms_per_step": round(ms, 2), "tokens_per_s": round(a.batch * a.seq / (ms / 1000)),
        "max_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2), "loss": float(loss.detach()),
        "expected_initial_loss": math.log(50257),
    }))


if __name__ == "__main__":
    main()
