#!/usr/bin/env python3
"""Makes PyTorch reference fixtures for llm.ts's GPT-2 (llm.c file formats).

For every config below this writes, under tests/testdata/<config>/:
  model.bin       llm.c checkpoint v3 (fp32 params)
  model_bf16.bin  llm.c checkpoint v5 (the same params rounded to bf16)
  state.bin       llm.c debug state: x, y, logits (unpadded), loss, fp32 gradients
  expected.json   config, B, T, loss, and the losses of 10 AdamW steps on the same batch

The model is written from the math, not from any existing implementation. Parameters are drawn with numpy (so the
files do not depend on torch's RNG), rounded to float32, and every computation after that runs in float64 with torch
autograd.

Usage:
  /usr/bin/python3 tests/testdata/make_fixtures.py            # write all fixtures
  /usr/bin/python3 tests/testdata/make_fixtures.py --check    # write, then re-read and self-check them
  /usr/bin/python3 tests/testdata/make_fixtures.py --only small
"""
import argparse
import json
import math
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_ROOT = HERE  # --out changes it

CHECKPOINT_MAGIC = 20240326
STATE_MAGIC = 20240327
HEADER_INTS = 256
HEADER_BYTES = HEADER_INTS * 4

CONFIGS = {
    # The GPT-2 vocabulary: 50257 padded to 50304, and a large softmax.
    "gpt2vocab": dict(V=50257, Vp=50304, L=2, NH=2, C=12, maxT=16, B=2, T=4, seed=1),
    # Head size 10, C not a multiple of 4, odd B and T.
    "awkward": dict(V=97, Vp=128, L=2, NH=3, C=30, maxT=24, B=3, T=7, seed=2),
    # Big enough that GPU matmul tiles are fully covered.
    "small": dict(V=257, Vp=384, L=2, NH=4, C=64, maxT=64, B=2, T=32, seed=3),
}

PARAM_NAMES = [
    "wte", "wpe", "ln1w", "ln1b", "qkvw", "qkvb", "attprojw", "attprojb",
    "ln2w", "ln2b", "fcw", "fcb", "fcprojw", "fcprojb", "lnfw", "lnfb",
]

ADAM = dict(lr=1e-4, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01, steps=10)


def param_shapes(cfg):
    Vp, maxT, L, C = cfg["Vp"], cfg["maxT"], cfg["L"], cfg["C"]
    return {
        "wte": (Vp, C), "wpe": (maxT, C),
        "ln1w": (L, C), "ln1b": (L, C),
        "qkvw": (L, 3 * C, C), "qkvb": (L, 3 * C),
        "attprojw": (L, C, C), "attprojb": (L, C),
        "ln2w": (L, C), "ln2b": (L, C),
        "fcw": (L, 4 * C, C), "fcb": (L, 4 * C),
        "fcprojw": (L, C, 4 * C), "fcprojb": (L, C),
        "lnfw": (C,), "lnfb": (C,),
    }


# ---------------------------------------------------------------------------------------------------------------------
# Random model and batch (numpy only, float32)


def make_params(cfg, rng):
    """Random fp32 parameters; wte rows V..Vp-1 are exactly zero."""
    shapes = param_shapes(cfg)
    L = cfg["L"]
    residual_std = 0.1 / math.sqrt(2 * L)  # the two projections that write into the residual stream
    params = {}
    for name in PARAM_NAMES:
        shape = shapes[name]
        if name in ("ln1w", "ln2w", "lnfw"):
            a = 1.0 + 0.1 * rng.standard_normal(shape)
        elif name.endswith("b"):
            a = 0.1 * rng.standard_normal(shape)
        elif name in ("attprojw", "fcprojw"):
            a = residual_std * rng.standard_normal(shape)
        else:  # wte, wpe, qkvw, fcw
            a = 0.1 * rng.standard_normal(shape)
        params[name] = a.astype(np.float32)
    params["wte"][cfg["V"]:, :] = 0.0
    return params


def make_batch(cfg, rng):
    B, T, V = cfg["B"], cfg["T"], cfg["V"]
    x = rng.integers(0, V, size=(B, T), dtype=np.int64).astype(np.int32)
    y = rng.integers(0, V, size=(B, T), dtype=np.int64).astype(np.int32)
    return x, y


# ---------------------------------------------------------------------------------------------------------------------
# The model, from the math, in float64


def layernorm(x, w, b, eps=1e-5):
    mean = x.mean(dim=-1, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)  # biased variance
    return (x - mean) / torch.sqrt(var + eps) * w + b


def linear(x, w, b):
    """y = x @ W^T + b with W stored (out, in)."""
    return x @ w.t() + b


def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def causal_attention(qkv, NH):
    """qkv: (B, T, 3C), rows q (all heads), k, v; head h uses channels h*hs..(h+1)*hs of each."""
    B, T, C3 = qkv.shape
    C = C3 // 3
    hs = C // NH
    q, k, v = qkv[..., :C], qkv[..., C:2 * C], qkv[..., 2 * C:]
    q = q.reshape(B, T, NH, hs).transpose(1, 2)  # (B, NH, T, hs)
    k = k.reshape(B, T, NH, hs).transpose(1, 2)
    v = v.reshape(B, T, NH, hs).transpose(1, 2)
    scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))  # (B, NH, T, T)
    future = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
    scores = scores.masked_fill(future, float("-inf"))
    att = torch.softmax(scores, dim=-1)
    out = att @ v  # (B, NH, T, hs)
    return out.transpose(1, 2).reshape(B, T, C)


def forward(p, x, y, cfg):
    """Returns (logits over the first V columns (B, T, V), mean cross-entropy loss)."""
    L, NH, V = cfg["L"], cfg["NH"], cfg["V"]
    T = x.shape[1]
    h = p["wte"][x] + p["wpe"][:T].unsqueeze(0)
    for l in range(L):
        a = layernorm(h, p["ln1w"][l], p["ln1b"][l])
        a = causal_attention(linear(a, p["qkvw"][l], p["qkvb"][l]), NH)
        h = h + linear(a, p["attprojw"][l], p["attprojb"][l])
        m = layernorm(h, p["ln2w"][l], p["ln2b"][l])
        m = gelu_tanh(linear(m, p["fcw"][l], p["fcb"][l]))
        h = h + linear(m, p["fcprojw"][l], p["fcprojb"][l])
    h = layernorm(h, p["lnfw"], p["lnfb"])
    logits_padded = h @ p["wte"].t()  # (B, T, Vp)
    logits = logits_padded[..., :V]  # softmax / cross-entropy see only the real vocabulary
    logp = torch.log_softmax(logits, dim=-1)
    nll = -logp.gather(-1, y.unsqueeze(-1)).squeeze(-1)
    return logits, nll.mean()


def to_torch_params(params_np):
    return {n: torch.tensor(params_np[n].astype(np.float64), requires_grad=True) for n in PARAM_NAMES}


def loss_and_grads(p, x, y, cfg):
    for t in p.values():
        t.grad = None
    logits, loss = forward(p, x, y, cfg)
    loss.backward()
    grads = {n: p[n].grad.detach().clone() for n in PARAM_NAMES}
    return logits.detach(), loss.detach(), grads


def train_losses(params_np, x, y, cfg):
    """llm.c's test loop: forward, backward, AdamW (decoupled weight decay on every parameter), in float64."""
    p = to_torch_params(params_np)
    m = {n: torch.zeros_like(p[n]) for n in PARAM_NAMES}
    v = {n: torch.zeros_like(p[n]) for n in PARAM_NAMES}
    lr, b1, b2 = ADAM["lr"], ADAM["beta1"], ADAM["beta2"]
    eps, wd = ADAM["eps"], ADAM["weight_decay"]
    losses = []
    for step in range(ADAM["steps"]):
        _, loss, grads = loss_and_grads(p, x, y, cfg)
        losses.append(float(loss))
        t = step + 1
        with torch.no_grad():
            for n in PARAM_NAMES:
                g = grads[n]
                m[n].mul_(b1).add_((1 - b1) * g)
                v[n].mul_(b2).add_((1 - b2) * g * g)
                mhat = m[n] / (1 - b1 ** t)
                vhat = v[n] / (1 - b2 ** t)
                p[n].sub_(lr * (mhat / (torch.sqrt(vhat) + eps) + wd * p[n]))
    return losses


# ---------------------------------------------------------------------------------------------------------------------
# File writing


def header(values):
    h = np.zeros(HEADER_INTS, dtype="<i4")
    h[:len(values)] = values
    return h


def to_bf16_bits(a32):
    """Round-to-nearest-even fp32 -> bf16, as uint16 bit patterns (inputs are finite)."""
    u = np.ascontiguousarray(a32, dtype="<f4").view("<u4").astype(np.uint64)
    rounding = ((u >> 16) & 1) + 0x7FFF
    return ((u + rounding) >> 16).astype("<u2")


def write_atomic(path, chunks):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        for c in chunks:
            f.write(np.ascontiguousarray(c).tobytes())
    os.replace(tmp, path)


def checkpoint_header(cfg, version):
    return header([CHECKPOINT_MAGIC, version, cfg["maxT"], cfg["V"], cfg["L"], cfg["NH"], cfg["C"], cfg["Vp"]])


def make_config(name, cfg):
    out = os.path.join(OUT_ROOT, name)
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(cfg["seed"])
    params = make_params(cfg, rng)
    x, y = make_batch(cfg, rng)
    xt, yt = torch.from_numpy(x.astype(np.int64)), torch.from_numpy(y.astype(np.int64))

    p = to_torch_params(params)
    logits, loss, grads = loss_and_grads(p, xt, yt, cfg)
    # The key-bias gradient is zero in exact arithmetic: it adds q.b_k to every score of a query row, and softmax
    # ignores a constant shift. Autograd leaves rounding noise (~1e-19) whose sign varies between torch builds, so
    # store the exact value.
    C = cfg["C"]
    key_bias = grads["qkvb"][:, C:2 * C]
    assert key_bias.abs().max() < 1e-12 * grads["qkvb"].abs().max(), "key-bias gradient is not ~0"
    key_bias.zero_()
    losses = train_losses(params, xt, yt, cfg)
    assert abs(losses[0] - float(loss)) < 1e-12, "step-0 loss differs from the reference loss"

    write_atomic(os.path.join(out, "model.bin"),
                 [checkpoint_header(cfg, 3)] + [params[n].astype("<f4") for n in PARAM_NAMES])
    write_atomic(os.path.join(out, "model_bf16.bin"),
                 [checkpoint_header(cfg, 5)] + [to_bf16_bits(params[n]) for n in PARAM_NAMES])
    write_atomic(os.path.join(out, "state.bin"),
                 [header([STATE_MAGIC, 2, cfg["B"], cfg["T"]]), x.astype("<i4"), y.astype("<i4"),
                  logits.numpy().astype("<f4"), np.array([float(loss)], dtype="<f4")]
                 + [grads[n].numpy().astype("<f4") for n in PARAM_NAMES])
    expected = {
        "config": {
            "maxSeqLen": cfg["maxT"], "vocabSize": cfg["V"], "paddedVocabSize": cfg["Vp"],
            "numLayers": cfg["L"], "numHeads": cfg["NH"], "channels": cfg["C"],
        },
        "B": cfg["B"],
        "T": cfg["T"],
        "loss": float(loss),
        "losses": losses,
        "torch": torch.__version__,
        "seed": cfg["seed"],
        "note": ("Made by tests/testdata/make_fixtures.py: fp32 parameters, float64 forward/backward with torch "
                 "autograd. losses = 10 steps of forward, backward, AdamW(lr 1e-4, betas 0.9/0.999, eps 1e-8, "
                 "decoupled weight decay 0.01 on all parameters) on the same batch, in float64; losses[0] == loss."),
    }
    tmp = os.path.join(out, "expected.json.tmp")
    with open(tmp, "w") as f:
        json.dump(expected, f, indent=2)
        f.write("\n")
    os.replace(tmp, os.path.join(out, "expected.json"))
    print(f"{name}: loss {float(loss):.6f} (ln V = {math.log(cfg['V']):.6f}), "
          f"losses {losses[0]:.6f} -> {losses[-1]:.6f}")
    return params, xt, yt


# ---------------------------------------------------------------------------------------------------------------------
# Self-check (--check): re-read the files and verify them, and finite differences against autograd


def read_header(raw, path):
    assert len(raw) >= HEADER_BYTES, f"{path}: shorter than a header"
    return np.frombuffer(raw[:HEADER_BYTES], dtype="<i4")


def check_config(name, cfg, params, xt, yt):
    out = os.path.join(OUT_ROOT, name)
    shapes = param_shapes(cfg)
    counts = [int(np.prod(shapes[n])) for n in PARAM_NAMES]
    nparams = sum(counts)
    B, T, V, Vp, C = cfg["B"], cfg["T"], cfg["V"], cfg["Vp"], cfg["C"]

    def split(flat):
        res, off = {}, 0
        for n, c in zip(PARAM_NAMES, counts):
            res[n] = flat[off:off + c].reshape(shapes[n])
            off += c
        return res

    # model.bin
    path = os.path.join(out, "model.bin")
    raw = open(path, "rb").read()
    h = read_header(raw, path)
    want = [CHECKPOINT_MAGIC, 3, cfg["maxT"], V, cfg["L"], cfg["NH"], C, Vp]
    assert list(h[:8]) == want and not h[8:].any(), f"{path}: header {list(h[:8])} != {want}"
    assert len(raw) == HEADER_BYTES + 4 * nparams, f"{path}: size {len(raw)}"
    p32 = split(np.frombuffer(raw[HEADER_BYTES:], dtype="<f4"))
    for n in PARAM_NAMES:
        assert np.array_equal(p32[n], params[n]), f"{path}: {n} differs"
    assert not p32["wte"][V:].any(), f"{path}: padded wte rows are not zero"

    # model_bf16.bin
    path = os.path.join(out, "model_bf16.bin")
    raw = open(path, "rb").read()
    h = read_header(raw, path)
    want[1] = 5
    assert list(h[:8]) == want and not h[8:].any(), f"{path}: header {list(h[:8])} != {want}"
    assert len(raw) == HEADER_BYTES + 2 * nparams, f"{path}: size {len(raw)}"
    bits = np.frombuffer(raw[HEADER_BYTES:], dtype="<u2")
    widened = (bits.astype(np.uint32) << 16).view(np.float32)
    pb = split(widened)
    for n in PARAM_NAMES:
        a, b = params[n].astype(np.float64), pb[n].astype(np.float64)
        # round-to-nearest: |error| <= half a bf16 ulp = 2^-8 relative (bf16 keeps 8 significant bits)
        assert np.all(np.abs(a - b) <= np.abs(a) * 2.0 ** -8 + 1e-38), f"{path}: {n} not rounded to nearest"
    # tie to even, spot-checked on hand-made values
    ties = np.array([1.0 + 2.0 ** -8, 1.0 + 3 * 2.0 ** -8, -(1.0 + 2.0 ** -8)], dtype=np.float32)
    assert list(to_bf16_bits(ties)) == [0x3F80, 0x3F82, 0xBF80], "bf16 ties do not round to even"

    # state.bin
    path = os.path.join(out, "state.bin")
    raw = open(path, "rb").read()
    h = read_header(raw, path)
    assert list(h[:4]) == [STATE_MAGIC, 2, B, T] and not h[4:].any(), f"{path}: header {list(h[:4])}"
    assert len(raw) == HEADER_BYTES + 4 * (2 * B * T + B * T * V + 1 + nparams), f"{path}: size {len(raw)}"
    off = HEADER_BYTES
    x = np.frombuffer(raw, dtype="<i4", count=B * T, offset=off).reshape(B, T); off += 4 * B * T
    y = np.frombuffer(raw, dtype="<i4", count=B * T, offset=off).reshape(B, T); off += 4 * B * T
    logits = np.frombuffer(raw, dtype="<f4", count=B * T * V, offset=off).reshape(B, T, V); off += 4 * B * T * V
    loss = float(np.frombuffer(raw, dtype="<f4", count=1, offset=off)[0]); off += 4
    grads = split(np.frombuffer(raw, dtype="<f4", count=nparams, offset=off))
    assert np.array_equal(x, xt.numpy()) and np.array_equal(y, yt.numpy()), f"{path}: x/y differ"
    assert x.min() >= 0 and x.max() < V and y.min() >= 0 and y.max() < V, f"{path}: tokens out of range"
    # the loss recomputed from the stored logits
    lg = logits.astype(np.float64)
    mx = lg.max(-1, keepdims=True)
    lse = (mx + np.log(np.exp(lg - mx).sum(-1, keepdims=True)))[..., 0]
    nll = lse - np.take_along_axis(lg, y[..., None].astype(np.int64), -1)[..., 0]
    assert abs(nll.mean() - loss) < 1e-5 * loss, f"{path}: loss {loss} vs logits {nll.mean()}"
    assert abs(loss - math.log(V)) < 1.0, f"{path}: loss {loss} far from ln V = {math.log(V)}"
    assert not grads["wte"][V:].any(), f"{path}: padded wte gradient rows are not zero"
    assert not grads["wpe"][T:].any(), f"{path}: wpe gradient rows >= T are not zero"
    assert not grads["qkvb"][:, C:2 * C].any(), f"{path}: key-bias gradient is not zero"
    for n in PARAM_NAMES:
        g = grads[n]
        assert np.isfinite(g).all(), f"{path}: {n} gradient not finite"
        assert np.abs(g).max() > 1e-6, f"{path}: {n} gradient is ~zero"
    # logits spread: not all near-uniform
    print(f"  {name}: logits std {lg.std():.4f}, "
          f"grad max |g| min over tensors {min(np.abs(grads[n]).max() for n in PARAM_NAMES):.3e}")

    # expected.json
    exp = json.load(open(os.path.join(out, "expected.json")))
    assert exp["loss"] == exp["losses"][0] and len(exp["losses"]) == 10
    assert abs(exp["loss"] - loss) < 1e-6 * loss
    assert exp["losses"][-1] < exp["losses"][0], "training on one batch did not lower the loss"

    # an independent second forward from torch.nn.functional (and torch.optim.AdamW for the 10 steps)
    cross_check_functional(params, xt, yt, cfg, loss_ref=exp["loss"], losses_ref=exp["losses"])

    # finite differences vs autograd, float64
    p = to_torch_params(params)
    _, _, ag = loss_and_grads(p, xt, yt, cfg)
    rng = np.random.default_rng(1234)
    worst = 0.0
    probes = [("wte", (int(yt[0, 0]), 0)), ("wte", (int(xt[0, 0]), 1))]
    probes.append(("wpe", (int(rng.integers(0, T)), int(rng.integers(0, C)))))  # rows >= T get no gradient
    for n in ["qkvw", "qkvb", "attprojw", "attprojb", "fcw", "fcb", "fcprojw", "ln1w", "ln2b", "lnfw", "lnfb"]:
        probes.append((n, tuple(int(rng.integers(0, s)) for s in shapes[n])))
    for n, idx in probes:
        hstep = 1e-5
        with torch.no_grad():
            orig = p[n][idx].item()
            p[n][idx] = orig + hstep
            lp = float(forward(p, xt, yt, cfg)[1])
            p[n][idx] = orig - hstep
            lm = float(forward(p, xt, yt, cfg)[1])
            p[n][idx] = orig
        fd = (lp - lm) / (2 * hstep)
        a = float(ag[n][idx])
        err = abs(fd - a) / max(abs(a), 1e-6)
        worst = max(worst, err)
        assert err < 1e-5, f"{name}: finite difference {n}{idx}: fd {fd} vs autograd {a}"
        # and the stored fp32 gradient is the rounded autograd value
        assert abs(float(grads[n][idx]) - a) <= abs(a) * 2.0 ** -23 + 1e-15  # key-bias entries are stored as 0
    print(f"  {name}: {len(probes)} finite-difference probes, worst relative error {worst:.2e}")
    for fname in ("model.bin", "model_bf16.bin", "state.bin", "expected.json"):
        size = os.path.getsize(os.path.join(out, fname))
        assert size < 4 * 1024 * 1024, f"{name}/{fname} is {size} bytes (over 4 MiB)"
        print(f"    {fname:16s} {size:>9d} bytes")


def forward_functional(p, x, y, cfg):
    """The same model through torch.nn.functional's building blocks, to cross-check the hand-written forward."""
    F = torch.nn.functional
    L, NH, V, C = cfg["L"], cfg["NH"], cfg["V"], cfg["C"]
    B, T = x.shape
    hs = C // NH
    sdpa = getattr(F, "scaled_dot_product_attention", None)  # torch >= 2.0
    h = F.embedding(x, p["wte"]) + p["wpe"][:T]
    for l in range(L):
        a = F.layer_norm(h, (C,), p["ln1w"][l], p["ln1b"][l], eps=1e-5)
        q, k, v = F.linear(a, p["qkvw"][l], p["qkvb"][l]).split(C, dim=-1)
        q, k, v = (t.view(B, T, NH, hs).transpose(1, 2) for t in (q, k, v))
        if sdpa is not None:
            a = sdpa(q, k, v, is_causal=True)
        else:
            mask = torch.full((T, T), float("-inf")).triu(1)
            a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hs) + mask, dim=-1) @ v
        a = a.transpose(1, 2).reshape(B, T, C)
        h = h + F.linear(a, p["attprojw"][l], p["attprojb"][l])
        m = F.layer_norm(h, (C,), p["ln2w"][l], p["ln2b"][l], eps=1e-5)
        m = F.gelu(F.linear(m, p["fcw"][l], p["fcb"][l]), approximate="tanh")
        h = h + F.linear(m, p["fcprojw"][l], p["fcprojb"][l])
    h = F.layer_norm(h, (C,), p["lnfw"], p["lnfb"], eps=1e-5)
    logits = F.linear(h, p["wte"])[..., :V]
    return F.cross_entropy(logits.reshape(-1, V), y.reshape(-1))


def cross_check_functional(params, xt, yt, cfg, loss_ref, losses_ref):
    p = to_torch_params(params)
    _, _, g_ref = loss_and_grads(to_torch_params(params), xt, yt, cfg)
    opt = torch.optim.AdamW(list(p.values()), lr=ADAM["lr"], betas=(ADAM["beta1"], ADAM["beta2"]),
                            eps=ADAM["eps"], weight_decay=ADAM["weight_decay"], foreach=False)
    losses = []
    for step in range(ADAM["steps"]):
        opt.zero_grad()
        loss = forward_functional(p, xt, yt, cfg)
        loss.backward()
        if step == 0:
            for n in PARAM_NAMES:
                d = (p[n].grad - g_ref[n]).abs().max().item()
                assert d <= 1e-10 * g_ref[n].abs().max().item(), f"functional gradient {n} differs by {d}"
        losses.append(loss.item())
        opt.step()
    assert abs(losses[0] - loss_ref) < 1e-12 * loss_ref, f"functional loss {losses[0]} vs {loss_ref}"
    d = max(abs(a - b) for a, b in zip(losses, losses_ref))
    assert d < 1e-10, f"torch.optim.AdamW losses differ by {d}: {losses} vs {losses_ref}"
    print(f"  functional forward + torch.optim.AdamW agree (max loss difference {d:.1e})")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="re-read the written files and self-check them")
    ap.add_argument("--out", default=HERE, help="root folder for the config folders (default: beside this script)")
    ap.add_argument("--only", choices=sorted(CONFIGS), action="append", help="only this config (repeatable)")
    args = ap.parse_args()
    global OUT_ROOT
    OUT_ROOT = args.out
    torch.set_default_dtype(torch.float64)
    print(f"torch {torch.__version__}, numpy {np.__version__}")
    for name in (args.only or list(CONFIGS)):
        params, xt, yt = make_config(name, CONFIGS[name])
        if args.check:
            check_config(name, CONFIGS[name], params, xt, yt)
    if args.check:
        print("all checks passed")


if __name__ == "__main__":
    sys.exit(main())
