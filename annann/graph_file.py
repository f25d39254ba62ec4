"""The K-NN graph file written by the distributed build, and a searchable index made from it.

Layout (HDF5): datasets ``neighbors`` (n, K) int32 and ``sq_distances`` (n, K) float32 (squared L2
on the rows as searched, i.e. unit-normalised for angular), each row sorted nearest first, no self;
attributes ``format``, ``metric``, ``n_neighbors`` and JSON ``input`` / ``settings`` / ``stats``.
It is written row block by row block into a temp file renamed at the end, so neither the writer
nor a crash ever holds or leaves a partial graph.
"""

import json
from pathlib import Path

import h5py
import numpy as np

from .atomic import atomic_path
from .heaps import sorted_rows
from .knn_graph import KNNGraphIndex
from .validation import as_float_matrix

FORMAT = "annann.knn_graph/1"


def write_graph(path, n, k, blocks, metric, attrs):
    """Write the graph from blocks yielding (lo, heap ids, heap squared distances) row ranges."""
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = FORMAT
            f.attrs["metric"] = metric
            f.attrs["n_neighbors"] = int(k)
            for key, value in attrs.items():
                f.attrs[key] = json.dumps(value)
            chunk = (max(1, min(n, 65536)), k)
            ids_ds = f.create_dataset("neighbors", (n, k), dtype=np.int32, chunks=chunk)
            sq_ds = f.create_dataset("sq_distances", (n, k), dtype=np.float32, chunks=chunk)
            written = 0
            for lo, ids, sq in blocks:
                ids, sq = sorted_rows(ids, sq)
                ids_ds[lo:lo + ids.shape[0]] = ids[:, :k]
                sq_ds[lo:lo + ids.shape[0]] = sq[:, :k]
                written += ids.shape[0]
            if written != n:
                raise ValueError(f"graph blocks cover {written} rows, expected {n}")
    return Path(path)


def read_graph(path):
    """(ids int32 (n, K), squared distances float32 (n, K), attrs dict) of a graph file."""
    path = Path(path)
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise ValueError(f"{path}: not a readable graph file ({exc})") from exc
    with f:
        if f.attrs.get("format") != FORMAT or "neighbors" not in f or "sq_distances" not in f:
            raise ValueError(f"{path}: not a K-NN graph file of the distributed build")
        ids = f["neighbors"][:]
        sq = f["sq_distances"][:]
        attrs = {k: (json.loads(v) if k in ("input", "settings", "stats") else v)
                 for k, v in f.attrs.items()}
    if ids.shape != sq.shape or ids.ndim != 2:
        raise ValueError(f"{path}: corrupt graph file (shapes {ids.shape}, {sq.shape})")
    return ids, sq, attrs


def load_graph_index(graph_path, X, **params):
    """A searchable KNNGraphIndex from a graph file and its data X (n, d), without rebuilding.

    X: the rows the graph was built on (raw; angular rows are normalised as fit does).
    params: KNNGraphIndex search parameters (max_degree, prune_alpha, entry_tables, bucket_size,
    seed).
    """
    ids, sq, attrs = read_graph(graph_path)
    X = as_float_matrix(X, name="X")
    if X.shape[0] != ids.shape[0]:
        raise ValueError(f"{graph_path}: graph has {ids.shape[0]} rows, the data {X.shape[0]}")
    built_dim = attrs.get("input", {}).get("dim")
    if built_dim is not None and built_dim != X.shape[1]:
        raise ValueError(f"{graph_path}: graph was built on dimension {built_dim}, "
                         f"the data has {X.shape[1]}")
    if ids.size and (ids.min() < 0 or ids.max() >= X.shape[0]):
        raise ValueError(f"{graph_path}: graph holds ids outside [0, {X.shape[0]})")
    index = KNNGraphIndex(str(attrs["metric"]), n_neighbors=int(attrs["n_neighbors"]), **params)
    index.fit_graph(X, ids, sq)
    index.last_stats = {"loaded_from": str(graph_path), "build": attrs.get("stats", {})}
    return index
