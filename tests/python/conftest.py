"""Shared data for the flashgmm pytest suite (run with /usr/bin/python3: it has numpy, sklearn, faiss)."""
import numpy as np
import pytest


def blobs(n=3000, d=5, k=4, seed=0, spread=6.0, dtype=np.float32):
    """Well-separated Gaussian clusters with unequal sizes and per-axis scales."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=spread, size=(k, d))
    scales = rng.uniform(0.5, 1.5, size=(k, d))
    sizes = rng.multinomial(n, np.linspace(1, 2, k) / np.linspace(1, 2, k).sum())
    X = np.concatenate([centers[i] + scales[i] * rng.normal(size=(sizes[i], d)) for i in range(k)])
    rng.shuffle(X)
    return X.astype(dtype)


@pytest.fixture
def X():
    return blobs()
