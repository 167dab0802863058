"""HellaSwag completion scores from `transformers`, for checking `gpt2 eval hellaswag` (issue 15, item 6).

Run on the device machine (it has torch and transformers; no network needed):

    python3 tests/testdata/make_hellaswag_reference.py --eval tests/testdata/hellaswag/mini_val.bin --out $OUT/hsref

It builds a small random GPT-2 (GPT2Config with GPT-2's vocabulary of 50257, so real token ids fit; torch seed
fixed), saves it with `save_pretrained` (model.safetensors + config.json, ~1.7 MB), reads the examples from the llm.c
eval file itself (its own parser of the 20240522 format, not llm.ts's), and for each example and ending computes in
float64 the cross-entropy of the ending's tokens given the context and the ending's earlier tokens: their sum and
mean, the summed-loss prediction (acc) and the mean-loss prediction (acc_norm), as llm.c's dev/data/hellaswag.py
does. Writes reference.json beside the model. The test then loads the saved model through llm.ts's Hugging Face
loader and compares its evaluator with these numbers.
"""
import argparse
import json
import os
import struct

import torch
from transformers import GPT2Config, GPT2LMHeadModel

EVAL_MAGIC = 20240522
DELIMITER = 65535


def read_eval_file(path):
    """The examples of an llm.c eval file: (index, label, context tokens, [ending tokens] * n)."""
    with open(path, "rb") as f:
        data = f.read()
    header = struct.unpack("<256i", data[:1024])
    assert header[0] == EVAL_MAGIC and header[1] == 1, f"{path}: not an llm.c eval file"
    words = struct.unpack(f"<{(len(data) - 1024) // 2}H", data[1024:])
    examples, at = [], 0
    for _ in range(header[2]):
        assert words[at] == DELIMITER
        size_words = words[at + 1] // 2
        fields = words[at + 2 : at + size_words]
        index, label, count = fields[0], fields[1], fields[2]
        ctx_len = fields[3]
        context = list(fields[4 : 4 + ctx_len])
        k = 4 + ctx_len
        endings = []
        for _ in range(count):
            n = fields[k]
            endings.append(list(fields[k + 1 : k + 1 + n]))
            k += 1 + n
        examples.append((index, label, context, endings))
        at += size_words
    return examples


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--eval", required=True, help="an llm.c eval file (gpt2 prepro hellaswag)")
    parser.add_argument("--out", required=True, help="directory for the model and reference.json")
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--heads", type=int, default=2)
    parser.add_argument("--channels", type=int, default=8)
    parser.add_argument("--positions", type=int, default=256)
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    config = GPT2Config(
        vocab_size=50257,
        n_positions=args.positions,
        n_embd=args.channels,
        n_layer=args.layers,
        n_head=args.heads,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
    )
    model = GPT2LMHeadModel(config).eval()
    # Weights of a trained-like scale, so the endings' losses differ between endings by more than float noise.
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.2)
    os.makedirs(args.out, exist_ok=True)
    model.save_pretrained(args.out, safe_serialization=True)
    model64 = model.to(torch.float64)

    scores = []
    correct = correct_norm = 0
    for index, label, context, endings in read_eval_file(args.eval):
        sums, means = [], []
        for ending in endings:
            tokens = torch.tensor([context + ending])
            with torch.no_grad():
                logits = model64(tokens).logits[0]
            # Position t predicts token t + 1; the ending's tokens are predicted by positions len(context) - 1 ….
            start = len(context) - 1
            targets = tokens[0, start + 1 :]
            logp = torch.log_softmax(logits[start : start + len(ending)], dim=-1)
            losses = -logp[torch.arange(len(ending)), targets]
            sums.append(float(losses.sum()))
            means.append(float(losses.mean()))
        pred = min(range(len(sums)), key=lambda i: sums[i])
        pred_norm = min(range(len(means)), key=lambda i: means[i])
        correct += pred == label
        correct_norm += pred_norm == label
        scores.append({"index": index, "label": label, "sumLoss": sums, "meanLoss": means, "pred": pred,
                       "predNorm": pred_norm})
    n = len(scores)
    reference = {
        "transformers": __import__("transformers").__version__,
        "torch": torch.__version__,
        "config": {"layers": args.layers, "heads": args.heads, "channels": args.channels,
                   "positions": args.positions, "seed": args.seed},
        "n": n,
        "acc": correct / n,
        "acc_norm": correct_norm / n,
        "examples": scores,
    }
    with open(os.path.join(args.out, "reference.json"), "w") as f:
        json.dump(reference, f, indent=1)
    print(json.dumps({"n": n, "acc": reference["acc"], "acc_norm": reference["acc_norm"]}))


if __name__ == "__main__":
    main()
