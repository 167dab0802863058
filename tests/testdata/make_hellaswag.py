"""
Writes the HellaSwag fixtures of tests/prepro/hellaswag_test.ts into tests/testdata/hellaswag/:

- mini_val.jsonl: six HellaSwag-shaped lines (the real files' fields: ind, activity_label, ctx_a, ctx_b, ctx,
  split, split_type, label, endings, source_id), written with json.dumps as the real file is (ASCII escapes for
  non-ASCII text), with unicode, an empty ctx_b, WikiHow-style [header]/[step] markers, and endings that start
  with punctuation, a digit or a space of their own, so the " " + ending rule is exercised.
- mini_val_rendered.json: what llm.c's dev/data/hellaswag.py hands to the tokenizer for each line, read back
  from mini_val.jsonl the way that script reads it (json.loads per line): the example index (its position),
  the label, the context text (the ctx field as it stands) and the four ending texts (" " + ending). The test
  tokenizes these strings with llm.ts's GPT-2 encoder and lays out the eval file bytes itself.

This script has no dependencies beyond Python 3 (no tiktoken: the token ids come from the TypeScript side).
Run: python3 tests/testdata/make_hellaswag.py
"""

import json
import os

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hellaswag")

# (activity_label, ctx_a, ctx_b, endings, label)
ITEMS = [
    ("Roof shingle removal", "A man is sitting on a roof.", "he",
     ["is using wrap to wrap a pair of skis.", "is ripping level tiles off.",
      "is holding a rubik's cube.", "starts pulling up roofing on a roof."], 3),
    ("Making a cappuccino", "A barista in a caf\u00e9 steams milk for a cr\u00e8me br\u00fbl\u00e9e latte.", "she",
     ["pours it into a cup \u2014 slowly.", "tosses the jug in the sink!", "waves at the camera \U0001F44B.",
      "drinks it all in one go."], 0),
    ("Tea ceremony", "\u4e00\u4eba\u306e\u5973\u6027\u304c\u304a\u8336\u3092\u70b9\u3066\u3066\u3044\u308b\u3002", "",
     ["\u5f7c\u5973\u306f\u8336\u7895\u3092\u56de\u3059\u3002", ", then she bows.", "2 minutes later she leaves.",
      " already spaced ending."], 1),
    ("Home and Garden", "[header] How to repot a plant [title] Water the plant a day before. [step] Soil comes out "
     "more easily when it is moist.", "",
     ["[substeps] Loosen the roots gently with your fingers.", "Throw the pot away.",
      "(optional) Add gravel at the bottom.", "\"Never\" water it again."], 2),
    ("Skiing", "Skiers glide down the slope.", "the camera",
     ["pans to a lodge.", "pans to a lodge. ", "PANS TO A LODGE.", "pans\tto a lodge."], 1),
    ("Playing drums", "A drummer counts in: 1, 2, 3, 4.", "he",
     ["hits the snare", "hits the snare's rim", "hits the cymbal", "stops"], 3),
]


def main():
    os.makedirs(HERE, exist_ok=True)
    jsonl = os.path.join(HERE, "mini_val.jsonl")
    with open(jsonl, "w", encoding="utf-8", newline="\n") as f:
        for i, (activity, ctx_a, ctx_b, endings, label) in enumerate(ITEMS):
            ctx = ctx_a + " " + ctx_b if ctx_b else ctx_a  # the dataset's rule for its ctx field
            line = {"ind": 100 + 7 * i, "activity_label": activity, "ctx_a": ctx_a, "ctx_b": ctx_b, "ctx": ctx,
                    "split": "val", "split_type": "indomain" if i % 2 == 0 else "zeroshot", "label": label,
                    "endings": endings, "source_id": f"fixture~{i}"}
            f.write(json.dumps(line) + "\n")
    # Read it back as llm.c's hellaswag.py does, and record what it would tokenize.
    rendered = []
    with open(jsonl, "r", encoding="utf-8") as f:
        for index, line in enumerate(f):
            example = json.loads(line)
            rendered.append({"index": index, "label": example["label"], "context": example["ctx"],
                             "endings": [" " + end for end in example["endings"]]})
    with open(os.path.join(HERE, "mini_val_rendered.json"), "w", encoding="utf-8", newline="\n") as f:
        json.dump(rendered, f, indent=1, ensure_ascii=True)
        f.write("\n")


if __name__ == "__main__":
    main()
