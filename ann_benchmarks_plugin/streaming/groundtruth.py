"""Exact ground truth of the active set at each search step of a runbook, cached on disk."""

import hashlib
import json
from pathlib import Path

import numpy as np

from annann.core.atomic import atomic_path
from annann.data.groundtruth import exact_knn


def cache_key(dataset, runbook, step, count, n_queries):
    """Stable key from the dataset identity, the runbook text and the step."""
    ident = json.dumps({"dataset": dataset.name, "n": int(dataset.train.shape[0]),
                        "d": int(dataset.dimension), "runbook": runbook.to_yaml(), "step": step,
                        "count": count, "q": n_queries}, sort_keys=True)
    return hashlib.sha256(ident.encode()).hexdigest()[:20]


def active_groundtruth(dataset, runbook, step, active_ids, queries, count, cache_dir=None):
    """(ids, distances) of the exact count-NN of each query among train rows active_ids."""
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / f"{dataset.name}-{cache_key(dataset, runbook, step, count, len(queries))}.npz"
        if path.is_file():
            with np.load(path) as z:
                return z["ids"], z["distances"]
    local, dists = exact_knn(dataset.train[active_ids], queries, min(count, len(active_ids)),
                             dataset.distance)
    ids = active_ids[local]
    if path is not None:
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, ids=ids, distances=dists)
    return ids, dists
