"""Seeded k-means for cluster indexes: scikit-learn on a subsample, Lloyd refinement, exact
nearest-centre assignment.

Centres come from scikit-learn's mini-batch k-means (5 passes) on at most ``sample`` rows
(default: 32 per cluster, at least 20,000), then ``refine_iters`` Lloyd iterations on a larger
sample (64 per cluster) with our blocked-BLAS assignment: mini-batch centres alone leave the
partition uneven, and a few refinement iterations cut the vectors scanned for the same recall@10;
5 mini-batch passes instead of 10 cost little recall and save build time
(results/cluster_index/kmeans_sift-1m.md, docs/design-notes.md). Every row is finally assigned
exactly to its nearest centre, so the partition is exact for the centres found.
scikit-learn runs with one OpenMP/BLAS thread by default: on a shared, oversubscribed machine
spinning worker threads made two threads several times slower than one (docs/design-notes.md).
The refinement's large matrix products use every CPU this process may run on.
"""

import math

import numpy as np
from sklearn.cluster import KMeans, MiniBatchKMeans
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from ..core.cpus import usable_cpus
from ..core.distances import sq_l2_scores, squared_norms
from ..core.validation import as_float_matrix

POINTS_PER_CLUSTER = 32
REFINE_POINTS_PER_CLUSTER = 64
REFINE_ITERS = 5
MIN_SAMPLE = 20_000
MINIBATCH_PASSES = 5
# Up to this many (sample rows x clusters), full k-means (k-means++ seeding, Lloyd): mini-batch
# seeding on tiny samples can put two centres in one blob and none in another.
FULL_KMEANS_LIMIT = 1e6


def resolve_n_clusters(spec, n):
    """Number of clusters for n rows: an int is absolute, a float is a multiple of sqrt(n).

    The result is clamped to [1, n] so tiny data sets still get a valid partition.
    """
    if isinstance(spec, bool) or not isinstance(spec, (int, float, np.integer, np.floating)):
        raise ValueError(f"n_clusters: expected an int or a float multiple of sqrt(n), got {spec!r}")
    if not math.isfinite(float(spec)) or spec <= 0:
        raise ValueError(f"n_clusters: must be > 0, got {spec!r}")
    if isinstance(spec, (float, np.floating)):
        k = int(round(float(spec) * math.sqrt(n)))
    else:
        k = int(spec)
    return max(1, min(k, int(n)))


def sample_rows(X, size, seed):
    """A seeded subsample of ``size`` rows (sorted, so memory-mapped reads stay sequential)."""
    n = X.shape[0]
    if size >= n:
        return X
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(n, size=size, replace=False))
    return np.ascontiguousarray(X[rows], dtype=np.float32)


def fit_centers(X, n_clusters, seed=0, sample=None, max_iter=None, threads=1,
                refine_iters=REFINE_ITERS):
    """k-means centres (n_clusters, d) float32 of the rows of X, seeded and subsampled.

    max_iter: passes over the sample (mini-batch default MINIBATCH_PASSES, full k-means 50).
    threads: OpenMP and BLAS threads for scikit-learn (None = its defaults, all cores).
    refine_iters: Lloyd iterations after the mini-batch k-means (see the module docstring).
    """
    X = as_float_matrix(X, name="X")
    n = X.shape[0]
    if not 1 <= n_clusters <= n:
        raise ValueError(f"n_clusters={n_clusters} must be between 1 and the number of rows ({n})")
    size = sample if sample is not None else max(MIN_SAMPLE, POINTS_PER_CLUSTER * n_clusters)
    size = max(int(size), n_clusters)
    S = sample_rows(X, size, seed)
    if S.shape[0] * n_clusters <= FULL_KMEANS_LIMIT:
        km = KMeans(n_clusters=n_clusters, n_init=1, max_iter=max_iter or 50, random_state=seed)
    else:
        km = MiniBatchKMeans(n_clusters=n_clusters, n_init=1,
                             batch_size=max(4096, 2 * n_clusters),
                             max_iter=max_iter or MINIBATCH_PASSES,
                             init_size=min(S.shape[0], 3 * n_clusters), max_no_improvement=20,
                             random_state=seed)
    if threads is None:
        km.fit(S)
    else:
        with threadpool_limits(limits=int(threads)):
            km.fit(S)
    centers = np.ascontiguousarray(km.cluster_centers_, dtype=np.float32)
    if refine_iters:
        R = sample_rows(X, max(size, REFINE_POINTS_PER_CLUSTER * n_clusters), seed + 1)
        centers = refine_centers(R, centers, refine_iters, seed)
    return centers


def group_sums(V, labels, k):
    """Per-label float64 sums of the rows of V (k, d) and counts (k,), without Python loops."""
    order = np.argsort(labels, kind="stable")
    lab = labels[order]
    counts = np.bincount(lab, minlength=k).astype(np.int64)
    sums = np.zeros((k, V.shape[1]), dtype=np.float64)
    if lab.shape[0]:
        firsts = np.flatnonzero(np.r_[True, lab[1:] != lab[:-1]])
        sums[lab[firsts]] = np.add.reduceat(V[order].astype(np.float64), firsts, axis=0)
    return sums, counts


def refine_centers(X, centers, iters, seed=0):
    """Lloyd iterations on the rows of X from the given centres: exact assignment, mean update.

    A cluster left empty takes over half of the largest one (its centre split in two by a small
    seeded perturbation), so every centre keeps serving data.
    """
    centers = np.array(centers, dtype=np.float32)
    k = centers.shape[0]
    rng = np.random.default_rng(seed)
    with threadpool_limits(limits=usable_cpus()):
        for _ in range(int(iters)):
            labels, _ = assign_nearest(X, centers)
            sums, counts = group_sums(X, labels, k)
            full = counts > 0
            centers[full] = (sums[full] / counts[full, None]).astype(np.float32)
            empty = np.flatnonzero(~full)
            if empty.size:
                big = np.argsort(-counts, kind="stable")[:empty.size]
                scale = 1e-3 * float(np.abs(centers[big]).mean() or 1.0)
                shift = (rng.standard_normal((empty.size, X.shape[1])) * scale).astype(np.float32)
                centers[empty] = centers[big] + shift
                centers[big] -= shift
    return centers


def assign_nearest(X, centers, block=8192, progress=False):
    """Index (int32) and squared L2 distance (float32) of the nearest centre for every row of X.

    Blocked so that memory stays at block x n_clusters floats; X may be a memmap.
    """
    centers = np.ascontiguousarray(centers, dtype=np.float32)
    c_sq = squared_norms(centers)
    n = X.shape[0]
    labels = np.empty(n, dtype=np.int32)
    dist = np.empty(n, dtype=np.float32)
    for s in tqdm(range(0, n, block), desc="assign", disable=not progress, unit="block"):
        B = np.asarray(X[s:s + block], dtype=np.float32)
        score = sq_l2_scores(B, centers, c_sq)
        lab = np.argmin(score, axis=1)
        labels[s:s + block] = lab
        b_sq = squared_norms(B)
        dist[s:s + block] = np.maximum(score[np.arange(B.shape[0]), lab] + b_sq, 0.0)
    return labels, dist


def nearest_centers(X, centers, t, block=8192):
    """Indices (int64, (n, t), nearest first) of the t nearest centres of every row of X, by the
    same blocked BLAS scores as assign_nearest (exact; X may be a memmap)."""
    centers = np.ascontiguousarray(centers, dtype=np.float32)
    t = min(int(t), centers.shape[0])
    c_sq = squared_norms(centers)
    out = np.empty((X.shape[0], t), dtype=np.int64)
    for s in range(0, X.shape[0], block):
        score = sq_l2_scores(np.asarray(X[s:s + block], dtype=np.float32), centers, c_sq)
        part = (np.argpartition(score, t - 1, axis=1)[:, :t] if t < centers.shape[0]
                else np.broadcast_to(np.arange(t), score.shape).copy())
        order = np.argsort(np.take_along_axis(score, part, axis=1), axis=1, kind="stable")
        out[s:s + block] = np.take_along_axis(part, order, axis=1)
    return out
