"""TinyStories fixtures for tests/prepro/tinystories_test.ts, and the expected result by llm.c's rule.

Writes into tests/testdata/datasets/:
  tinystories/*.json        the shards as a directory (JSON arrays of {"story": ...}), plus files that are not
                            shards: a hidden ._data00.json, notes.txt, sub/data99.json
  tinystories.tar.gz        the same files in a GNU-format tar (one shard name is longer than 100 bytes, so it
                            travels as a ././@LongLink entry), gzipped, entries NOT in name order
  tinystories_pax.tar       the same in a POSIX.1-2001 (pax) tar, uncompressed, entries in name order
  tinystories_expected.json {"val": [...], "train": [...]}: the stories in output order, each already stripped

The expected lists follow llm.c's dev/data/tinystories.py with Python's own `random` and `str.strip` (this
script never imports project code): sorted(glob("*.json")), the first shard is val, the rest train in name order,
shard i of a split shuffled with random.Random(1337 + i).shuffle, each story .strip()ped. Deterministic: a rerun
writes the same bytes. Run from the repository root with python3 (3.11; no packages needed):
  python3 tests/testdata/make_datasets.py
"""
import glob
import gzip
import io
import json
import os
import random
import shutil
import tarfile

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "datasets")
DIR = os.path.join(OUT, "tinystories")
LONG = "data02_" + "long_name_" * 11 + ".json"  # 120 bytes: needs a GNU long name / pax path record

WORDS = ["Once", "upon", "a", "time", "Lily", "saw", "a", "big", "red", "ball", "and", "smiled.", "Tom", "was",
         "sad", "but", "his", "mom", "hugged", "him.", "The", "end.", "café", "naïve", "🙂", "don't", "it's"]


def story(rng, k):
    words = [rng.choice(WORDS) for _ in range(rng.randint(3, 14))]
    text = " ".join(words)
    # Python-only whitespace at the ends (stripped by str.strip, kept by JavaScript's trim), and U+FEFF (the
    # reverse: trim() strips it, str.strip() keeps it), literal <|endoftext|>, inner newlines.
    edges = ["", " ", "\n", "\u001f", "\u0085", "\u001c\u001d\u001e", "\u3000", "\t \u2028", "\ufeff"]
    text = rng.choice(edges) + text + rng.choice(edges)
    if k % 5 == 2:
        text = text.replace(" ", " <|endoftext|> ", 1)
    if k % 7 == 3:
        text = text.replace(" ", "\n\n", 1)
    return text


def shards():
    rng = random.Random(20240520)
    names = ["data00.json", "data01.json", LONG, "data03.json", "data10.json"]
    out = {}
    for n, name in enumerate(names):
        stories = [{"story": story(rng, k), "instruction": {"words": k}} for k in range(6 + 3 * n)]
        if n == 1:
            stories.append({"story": "   \u0085\u001f  "})  # strips to "", still gets its EOT
            stories.append({"story": "\ufeffBOM stays\u200b"})  # U+FEFF and U+200B are not str.isspace()
        out[name] = json.dumps(stories, ensure_ascii=(n % 2 == 0), indent=None).encode()
    return out


def expected(dir_):
    paths = sorted(glob.glob(os.path.join(dir_, "*.json")))
    result = {}
    for split, split_paths in [("val", paths[:1]), ("train", paths[1:])]:
        texts = []
        for i, path in enumerate(split_paths):
            with open(path, "r", encoding="utf-8") as f:
                data = json.load(f)
            random.Random(1337 + i).shuffle(data)
            texts.extend(example["story"].strip() for example in data)
        result[split] = texts
    return result


def add(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 1700000000
    info.mode = 0o644
    info.uname = info.gname = "llmts"
    tar.addfile(info, io.BytesIO(data))


def others():
    return {"._data00.json": b"[1, 2]", "notes.txt": b"not a shard\n", "sub/data99.json": b"[{\"story\": 1}]"}


def main():
    files = shards()
    shutil.rmtree(DIR, ignore_errors=True)
    os.makedirs(os.path.join(DIR, "sub"))
    for name, data in {**files, **others()}.items():
        with open(os.path.join(DIR, name), "wb") as f:
            f.write(data)
    with open(os.path.join(OUT, "tinystories_expected.json"), "w", encoding="utf-8") as f:
        json.dump(expected(DIR), f, ensure_ascii=False, indent=1)
        f.write("\n")

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        dir_info = tarfile.TarInfo("sub")
        dir_info.type, dir_info.mtime, dir_info.mode = tarfile.DIRTYPE, 1700000000, 0o755
        tar.addfile(dir_info)
        order = ["data03.json", "notes.txt", "data01.json", LONG, "sub/data99.json", "data10.json", "data00.json",
                 "._data00.json"]
        all_files = {**files, **others()}
        for name in order:
            add(tar, "./" + name if name == "data01.json" else name, all_files[name])
    with open(os.path.join(OUT, "tinystories.tar.gz"), "wb") as f:
        with gzip.GzipFile(fileobj=f, mode="wb", mtime=0, filename="") as gz:
            gz.write(raw.getvalue())

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted({**files, **others()}):
            add(tar, name, {**files, **others()}[name])
    with open(os.path.join(OUT, "tinystories_pax.tar"), "wb") as f:
        f.write(raw.getvalue())


if __name__ == "__main__":
    main()
