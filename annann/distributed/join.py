"""The work of one partition in the distributed build: NN-descent on its rows with the kernels of
``graph.nndescent`` (the single-machine build's, not a copy of them).

Round 0 (``first_build``): a partition is an LSH bucket of the rows, and it runs the
single-machine ``nn_descent`` on them as ``KNNGraphIndex`` does (LSH start with data-difference
directions, reordering into the first table's leaf order, iterations until delta): on one
machine's worth of rows that is the whole build, and on a set split in two it already finds
most of the true neighbours before any exchange (docs/design-notes.md).

Later rounds (``refine_rows``): a fresh LSH partition of the rows. A partition holds its core rows
and the halo: the current neighbours of its core rows (round 1: all of them; later rounds: those of
rows holding a new entry, since NN-descent never joins two old entries again). Every local heap
starts as the row's global heap with each id outside the partition replaced by -1 but its distance
kept (a placeholder; the kernels skip ids < 0), so it keeps its true K-th distance and the local
join keeps only pairs that can improve the graph. Fresh pairs come from ``refine_tables`` local LSH
tables over the local rows (flagged new); the rows are put in the first table's leaf order for
memory locality. Halo rows' own entries count as old here: a row joins its own new entries once,
in its core partition; as a halo row it pairs the core rows that list it (reverse neighbours) with
its list. Then local NN-descent iterations (up to ``local_iters``, until delta) run. Entries found
for a row that lacked its full list here (halo rows; after round 1 also core rows without a new
entry, whose neighbours were not brought) are flagged new, so the row joins them with its full list in a later round. Returned per row: its heap in
global ids (halo rows: only the entries they did not hold before).
"""

import threading
from contextlib import contextmanager

import numba
import numpy as np

from ..core.distances import squared_norms
from ..graph.lsh import LSHTables
from ..graph.nndescent import descent_iteration, init_from_buckets, nn_descent
from .merge import drop_known, to_local

_NUMBA_LOCK = threading.Lock()  # numba kernels of one process run one task at a time


@contextmanager
def numba_threads(n):
    """Run numba kernels with n threads, one task at a time per worker process."""
    with _NUMBA_LOCK:
        previous = numba.get_num_threads()
        numba.set_num_threads(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))
        try:
            yield
        finally:
            numba.set_num_threads(previous)


def local_descent(X, ids, dists, flags, n_candidates, iters, delta, salt, counts):
    """NN-descent iterations on the local heaps (in place); returns the updates of each."""
    n, K = ids.shape
    sq_norms = squared_norms(X).astype(np.float32)
    parts = numba.get_num_threads()
    history = []
    for it in range(iters):
        updates = descent_iteration(X, sq_norms, ids, dists, flags, n_candidates, salt + it, parts,
                                    counts)
        history.append(int(updates))
        if updates <= delta * n * K:
            break
    return history


def part_seed(settings, round_no, part_no):
    """Seed of one partition's LSH tables and sampling (distinct per round and partition)."""
    return (settings["seed"] * 7919 + round_no) * 131 + part_no


def first_build(X, settings, part_no):
    """Round 0: (ids in local numbering, squared distances, stats) of ``nn_descent`` on X."""
    s = settings
    seed = part_seed(s, 0, part_no)
    pool = min(s["pool_size"], X.shape[0] - 1)
    tables = LSHTables(s["lsh_tables"], s["bucket_size"], seed).build(X)
    ids, dists, stats = nn_descent(X, pool, tables, rho=s["rho"], delta=s["delta"],
                                   max_iters=s["first_iters"], max_candidates=s["n_candidates"],
                                   n_parts=numba.get_num_threads(), seed=seed)
    if pool < s["pool_size"]:
        pad = s["pool_size"] - pool
        ids = np.pad(ids, ((0, 0), (0, pad)), constant_values=-1)
        dists = np.pad(dists, ((0, 0), (0, pad)), constant_values=np.inf)
    return ids, dists, stats


def refine_rows(gids, is_core, X, lists, settings, round_no, part_no, full_halo):
    """Rounds >= 1: local NN-descent of core + halo rows from their global lists.

    gids (sorted int64), is_core, X (float32 rows), lists (ids in global numbering, dists, flags);
    full_halo: the halo holds every neighbour of every core row (else only those of core rows
    holding a new entry).
    Returns (gids, ids global, dists, flags, is_core) of the rows to merge, dist evals, updates.
    """
    s = settings
    seed = part_seed(s, round_no, part_no)
    order = np.arange(gids.shape[0])
    tables = None
    if s["refine_tables"] and gids.shape[0] > 1:
        tables = LSHTables(s["refine_tables"], s["bucket_size"], seed).build(X)
        order = tables.orders[0].astype(np.int64)
    gids, is_core, X = gids[order], is_core[order], np.ascontiguousarray(X[order])
    g_ids, dists, g_f = (a[order] for a in lists)
    ids = to_local(gids, g_ids)
    flags = np.where((ids >= 0) & is_core[:, None], g_f, 0).astype(np.uint8)
    counts = np.zeros(gids.shape[0], dtype=np.int64)
    known = ids.copy()
    if tables is not None:
        inverse = np.empty(order.shape[0], dtype=np.int32)
        inverse[order] = np.arange(order.shape[0], dtype=np.int32)
        for t in range(tables.n_tables):
            order_t, starts, ends = tables.buckets(t)
            init_from_buckets(X, inverse[order_t], starts, ends, ids, dists, flags, counts)
    history = local_descent(X, ids, dists, flags, s["n_candidates"], s["local_iters"], s["delta"],
                            seed * 1000, counts)
    partial = ~is_core if full_halo else ~(is_core & g_f.any(axis=1))
    if partial.any():
        found = drop_known(ids[partial], known[partial]) >= 0
        f_part = flags[partial]
        f_part[found] = 1
        flags[partial] = f_part
    halo = ~is_core
    if halo.any():
        ids[halo] = drop_known(ids[halo], known[halo])
    out_ids = np.where(ids >= 0, gids[np.maximum(ids, 0)], -1).astype(np.int32)
    keep = is_core | (ids >= 0).any(axis=1)
    back = np.argsort(gids[keep], kind="stable")
    out = tuple(a[keep][back] for a in (gids, out_ids, dists, flags, is_core))
    return out, int(counts.sum()), history
