"""Seeded synthetic datasets (Gaussian clusters) for quick, reproducible experiments."""

import numpy as np

from ..core.distances import check_metric
from .datasets import build_dataset


def gaussian_clusters(n, d, n_clusters=32, spread=0.25, seed=0):
    """n points in d dimensions around n_clusters random centres (float32)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_clusters, d))
    labels = rng.integers(0, n_clusters, size=n)
    return (centres[labels] + spread * rng.standard_normal((n, d))).astype(np.float32)


def make_synthetic_dataset(path, n_train=10_000, n_test=100, d=32, metric="euclidean",
                           n_clusters=32, seed=0, count=100, progress=False):
    """Write a synthetic dataset with exact ground truth; train and test share the distribution."""
    check_metric(metric)
    X = gaussian_clusters(n_train + n_test, d, n_clusters, seed=seed)
    return build_dataset(path, X[:n_train], X[n_train:], metric, min(count, n_train), progress)
