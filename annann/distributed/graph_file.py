"""The K-NN graph the distributed build writes, and a searchable index made from it.

The graph is an annann index directory (``core.index_format``) of class ``KNNGraph``: arrays
``neighbors`` (n, K) int32 and ``sq_distances`` (n, K) float32 (squared L2 on the rows as
searched, i.e. unit-normalised for angular), each row sorted nearest first, no self; params
``metric`` and ``n_neighbors``; state ``input``, ``settings`` and ``stats`` of the build. The
arrays are filled row block by row block through memory maps in a temp directory that is renamed
at the end, so neither the writer nor a crash ever holds or leaves a whole or partial graph in
memory or on disk.
"""

from pathlib import Path

import numpy as np

from ..core.heaps import sorted_rows
from ..core.index_format import IndexFormatError, IndexWriter, read_index
from ..core.validation import as_float_matrix
from ..graph.index import KNNGraphIndex

CLASS = "KNNGraph"


def write_graph(path, n, k, blocks, metric, attrs):
    """Write the graph from blocks yielding (lo, heap ids, heap squared distances) row ranges;
    attrs: JSON values stored as the graph's state (input, settings, stats)."""
    with IndexWriter(path, CLASS, {"metric": metric, "n_neighbors": int(k)}, attrs) as w:
        ids_out = w.new_array("neighbors", (n, k), np.int32)
        sq_out = w.new_array("sq_distances", (n, k), np.float32)
        written = 0
        for lo, ids, sq in blocks:
            ids, sq = sorted_rows(ids, sq)
            ids_out[lo:lo + ids.shape[0]] = ids[:, :k]
            sq_out[lo:lo + ids.shape[0]] = sq[:, :k]
            written += ids.shape[0]
        if written != n:
            raise ValueError(f"graph blocks cover {written} rows, expected {n}")
        del ids_out, sq_out
    return Path(path)


def read_graph(path):
    """(ids int32 (n, K), squared distances float32 (n, K), attrs dict) of a graph directory."""
    stored = read_index(path, CLASS)
    try:
        n_neighbors = int(stored.params["n_neighbors"])
        metric = str(stored.params["metric"])
    except (KeyError, TypeError, ValueError) as exc:
        raise IndexFormatError(f"{path}: graph metadata incomplete ({exc})") from exc
    ids = np.asarray(stored.array("neighbors", dtype=np.int32))
    sq = np.asarray(stored.array("sq_distances", dtype=np.float32))
    if ids.shape != sq.shape or ids.ndim != 2 or ids.shape[1] != n_neighbors:
        raise IndexFormatError(f"{path}: corrupt graph (shapes {ids.shape}, {sq.shape})")
    return ids, sq, {"metric": metric, "n_neighbors": n_neighbors, **stored.state}


def load_graph_index(graph_path, X, **params):
    """A searchable KNNGraphIndex from a graph directory and its data X (n, d), without rebuilding.

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
    index = KNNGraphIndex(attrs["metric"], n_neighbors=attrs["n_neighbors"], **params)
    index.fit_graph(X, ids, sq)
    index.last_stats = {"loaded_from": str(graph_path), "build": attrs.get("stats", {})}
    return index
