"""The work of one partition in the distributed build: NN-descent on its rows with the iteration of
``graph.nndescent`` (the single-machine build's, not a copy of it).

A partition holds its core rows (an LSH bucket of this round) and, from round 1 on, the halo:
the current neighbours of its core rows that hold a new entry (NN-descent never joins two old
entries again, so rows without one need no neighbours). Every local heap starts as the row's
global heap with each id outside the partition replaced by -1 but its distance kept (a
placeholder; the kernels skip ids < 0), so it keeps its true K-th distance and the local join
keeps only pairs that can improve the graph. Halo rows' own entries count as old here: a row joins
its own new entries once, in its core partition; as a halo row it pairs the core rows that list
it (reverse neighbours) with its list. Round 0 starts instead from all pairs in the buckets of a
local LSH plus a random fill, as ``nn_descent``; later rounds add the pairs of one fresh local
LSH table. Then local NN-descent iterations (sampling, local join, update) run: one round of
partitions is one distributed NN-descent iteration, and more local iterations propagate further at
no shuffle cost. Entries found for a row that lacked its full list here (halo rows, core rows
without a new entry) are flagged new, so the row joins them with its full list in a later round.
Returned per row: its heap in global ids (halo rows: only the entries they did not hold before),
split by the chunk that owns the row.
"""

import threading
from contextlib import contextmanager

import numba
import numpy as np

from ..core.distances import squared_norms
from ..core.heaps import empty_heaps
from ..graph.lsh import LSHTables
from ..graph.nndescent import descent_iteration, init_from_buckets, init_random
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


def _concat(pieces, i, empty):
    parts = [p[i] for p in pieces if p is not None and p[0].shape[0]]
    return np.concatenate(parts) if parts else empty


def join_partition(pieces, chunk_starts, settings, round_no, part_no):
    """Local NN-descent of one partition from its selected pieces (one per chunk).

    pieces: (gids, is_core, X rows, (ids, dists, flags) or None) per chunk. Returns a list with one
    entry per chunk, (gids, ids, dists, flags, is_core) or None, then a stats dict.
    """
    s = settings
    pool, dim = s["pool_size"], s["dim"]
    gids = _concat(pieces, 0, np.zeros(0, np.int64))
    is_core = _concat(pieces, 1, np.zeros(0, bool))
    X = _concat(pieces, 2, np.zeros((0, dim), np.float32))
    first = round_no == 0
    order = np.argsort(~is_core, kind="stable")  # core rows first: local ids 0..n_core-1
    gids, is_core, X = gids[order], is_core[order], np.ascontiguousarray(X[order])
    n_local, n_core = gids.shape[0], int(is_core.sum())
    counts = np.zeros(n_local, dtype=np.int64)
    round_seed = s["seed"] * 7919 + round_no
    if first:
        ids, dists, flags = empty_heaps(n_local, pool)
    else:
        lists = [p[3] for p in pieces if p is not None and p[0].shape[0]]
        l_ids, dists, l_f = (np.concatenate([x[i] for x in lists])[order] for i in range(3))
        sorter = np.argsort(gids, kind="stable")
        ids = to_local(gids[sorter], sorter, l_ids)
        flags = np.where((ids >= 0) & is_core[:, None], l_f, 0).astype(np.uint8)
    with numba_threads(s["task_threads"]):
        known = ids.copy()
        n_tables = s["lsh_tables"] if first else s["refine_tables"]
        if n_tables and n_core > 1:
            tables = LSHTables(n_tables, s["bucket_size"], round_seed * 131 + part_no)
            tables.build(X[:n_core])
            for t in range(n_tables):
                order_t, starts, ends = tables.buckets(t)
                init_from_buckets(X, order_t, starts, ends, ids, dists, flags, counts)
        if first:
            init_random(X, ids, dists, flags, round_seed * 131 + part_no, counts)
        history = local_descent(X, ids, dists, flags, s["n_candidates"],
                                s["first_iters"] if first else s["local_iters"], s["delta"],
                                round_seed * 1000 + part_no * 100, counts)
        partial = ~is_core if first else ~(is_core & l_f.any(axis=1))
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
    chunk_of = np.searchsorted(chunk_starts, gids, side="right") - 1
    out = []
    for c in range(len(chunk_starts)):
        r = np.flatnonzero(keep & (chunk_of == c))
        out.append((gids[r], out_ids[r], dists[r], flags[r], is_core[r]) if r.size else None)
    bytes_in = sum(p[2].nbytes + p[0].nbytes + (0 if p[3] is None else sum(a.nbytes for a in p[3]))
                   for p in pieces if p is not None)
    bytes_out = sum(sum(a.nbytes for a in o) for o in out if o is not None)
    out.append({"part": part_no, "n_core": n_core, "n_local": n_local,
                "dist_evals": int(counts.sum()), "local_updates": history,
                "bytes_in": int(bytes_in), "bytes_out": int(bytes_out)})
    return out
