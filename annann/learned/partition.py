"""Balanced partition of the K-NN graph (Neural LSH step 2): neighbours land in the same part.

The directed K-NN lists become one undirected graph in CSR form (``symmetric_csr``, numba), which
KaHIP (``kahip`` on PyPI) or METIS (``pymetis``) cuts into ``n_parts`` parts of nearly equal size,
minimising the number of K-NN edges between parts. ``imbalance`` bounds the largest part at
(1 + imbalance) x n / n_parts.
"""

import numba
import numpy as np

from ..core.validation import check_positive_int

PARTITIONERS = ("kahip", "metis")
KAHIP_MODES = ("fast", "eco", "strong")


@numba.njit(cache=True)
def count_degrees(ids, n):
    """Out plus in degree of every node of the directed K-NN lists (self loops dropped)."""
    deg = np.zeros(n, dtype=np.int64)
    for i in range(ids.shape[0]):
        for j in ids[i]:
            if j != i and j >= 0:
                deg[i] += 1
                deg[j] += 1
    return deg


@numba.njit(cache=True)
def fill_edges(ids, offsets, adj):
    """Write both directions of every K-NN edge into adj at the rows' offsets."""
    fill = offsets[:-1].copy()
    for i in range(ids.shape[0]):
        for j in ids[i]:
            if j != i and j >= 0:
                adj[fill[i]] = j
                fill[i] += 1
                adj[fill[j]] = i
                fill[j] += 1


@numba.njit(cache=True)
def dedupe_rows(offsets, adj):
    """Sort each row and drop repeated neighbours in place; returns the new (offsets, adj)."""
    n = offsets.shape[0] - 1
    out_off = np.zeros(n + 1, dtype=np.int64)
    w = 0
    for i in range(n):
        row = np.sort(adj[offsets[i]:offsets[i + 1]])
        for t in range(row.shape[0]):
            if t == 0 or row[t] != row[t - 1]:
                adj[w] = row[t]
                w += 1
        out_off[i + 1] = w
    return out_off, adj[:w].copy()


def symmetric_csr(ids):
    """(xadj int64 (n+1,), adjncy int32) of the undirected graph of K-NN lists ids (n, K)."""
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    if ids.ndim != 2:
        raise ValueError(f"ids: expected an (n, K) array, got shape {ids.shape}")
    n = ids.shape[0]
    if ids.size and (ids.max() >= n or ids.min() < -1):
        raise ValueError(f"ids: neighbour ids must lie in [0, {n}) (or -1 for none)")
    deg = count_degrees(ids, n)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(deg, out=offsets[1:])
    adj = np.empty(offsets[-1], dtype=np.int64)
    fill_edges(ids, offsets, adj)
    xadj, adj = dedupe_rows(offsets, adj)
    return xadj, adj.astype(np.int32)


def _kahip(xadj, adjncy, n_parts, imbalance, seed, mode):
    try:
        import kahip
    except ImportError as exc:
        raise ImportError("partitioner='kahip' needs the kahip package: pip install kahip "
                          "(or use partitioner='metis' with pymetis)") from exc
    n = xadj.shape[0] - 1
    modes = {"fast": kahip.FAST, "eco": kahip.ECO, "strong": kahip.STRONG}
    _, parts = kahip.kaffpa(np.ones(n, np.int32), xadj.astype(np.int32),
                            np.ones(adjncy.shape[0], np.int32), adjncy.astype(np.int32),
                            int(n_parts), float(imbalance), True, int(seed), modes[mode])
    return np.asarray(parts, dtype=np.int32)


def _metis(xadj, adjncy, n_parts, imbalance, seed):
    try:
        import pymetis
    except ImportError as exc:
        raise ImportError("partitioner='metis' needs the pymetis package: pip install pymetis "
                          "(or use partitioner='kahip' with kahip)") from exc
    options = pymetis.Options(seed=int(seed), ufactor=max(1, int(round(1000 * imbalance))))
    graph = pymetis.CSRAdjacency(xadj.astype(np.int32), adjncy.astype(np.int32))
    return np.asarray(pymetis.part_graph(int(n_parts), graph, options=options).vertex_part,
                      dtype=np.int32)


def check_partitioner(partitioner, mode="fast", imbalance=0.03):
    """Validate the partitioner settings (ValueError naming the bad one)."""
    if partitioner not in PARTITIONERS:
        raise ValueError(f"partitioner: expected one of {PARTITIONERS}, got {partitioner!r}")
    if mode not in KAHIP_MODES:
        raise ValueError(f"kahip_mode: expected one of {KAHIP_MODES}, got {mode!r}")
    if not (np.isfinite(imbalance) and 0 < imbalance <= 1):
        raise ValueError(f"imbalance: must be in (0, 1], got {imbalance}")


def partition_graph(xadj, adjncy, n_parts, partitioner="kahip", imbalance=0.03, seed=0,
                    mode="fast"):
    """Part (int32 (n,), values in [0, n_parts)) of every node of the CSR graph."""
    check_partitioner(partitioner, mode, imbalance)
    n = xadj.shape[0] - 1
    n_parts = check_positive_int(n_parts, "n_parts")
    if n_parts > n:
        raise ValueError(f"n_parts={n_parts} exceeds the number of points ({n})")
    if n_parts == 1:
        return np.zeros(n, dtype=np.int32)
    if partitioner == "kahip":
        parts = _kahip(xadj, adjncy, n_parts, imbalance, seed, mode)
    else:
        parts = _metis(xadj, adjncy, n_parts, imbalance, seed)
    if parts.shape != (n,) or parts.min() < 0 or parts.max() >= n_parts:
        raise RuntimeError(f"{partitioner} returned an invalid partition")
    return parts


def cut_fraction(xadj, adjncy, parts):
    """Fraction of the undirected edges whose ends lie in different parts."""
    src = np.repeat(np.arange(xadj.shape[0] - 1), np.diff(xadj))
    return float((parts[src] != parts[adjncy]).mean()) if adjncy.shape[0] else 0.0


__all__ = ["PARTITIONERS", "KAHIP_MODES", "symmetric_csr", "partition_graph", "cut_fraction",
           "check_partitioner"]
