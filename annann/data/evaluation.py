"""Recall as ann-benchmarks defines it: by distance threshold, so ties count."""

import numpy as np

from ..core.distances import distances


def knn_recall(true_distances, run_distances, count, epsilon=1e-3):
    """Per-query fraction of the first ``count`` returned distances <= true count-th distance + eps.

    ``run_distances`` (m, >=count) holds the true distances of the returned ids, padded with inf.
    """
    true_distances = np.asarray(true_distances, dtype=np.float64)
    run = np.asarray(run_distances, dtype=np.float64)[:, :count]
    threshold = true_distances[:, count - 1] + epsilon
    return (run <= threshold[:, None]).sum(axis=1) / float(count)


def epsilon_recall(true_distances, run_distances, count, epsilon=0.01):
    """As knn_recall, with the relative threshold (1 + epsilon) * true count-th distance."""
    true_distances = np.asarray(true_distances, dtype=np.float64)
    run = np.asarray(run_distances, dtype=np.float64)[:, :count]
    threshold = true_distances[:, count - 1] * (1.0 + epsilon)
    return (run <= threshold[:, None]).sum(axis=1) / float(count)


def id_recall(true_ids, found_ids, count):
    """Per-query overlap of the returned ids with the true first ``count`` ids (ties not credited)."""
    true_ids = np.asarray(true_ids)[:, :count]
    found = np.asarray(found_ids)[:, :count]
    return np.array([np.intersect1d(t, f[f >= 0]).size for t, f in zip(true_ids, found)]) / count


def recall_of_ids(train, queries, true_distances, found_ids, metric, count=10):
    """Mean knn_recall of returned ids (rows of found_ids, -1 = missing) against the ground truth.

    The ids' true distances to their queries are computed first, as ann-benchmarks does.
    """
    run = np.full((len(queries), count), np.inf)
    for i, ids in enumerate(found_ids):
        ids = np.asarray(ids)
        ids = ids[ids >= 0][:count]
        run[i, :ids.size] = distances(queries[i], train[ids], metric)
    return float(knn_recall(true_distances, run, count).mean())
