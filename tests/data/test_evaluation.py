"""Recall definitions against hand-made cases and the real embedded set."""

import numpy as np
import pytest

from annann.data.datasets import first_rows
from annann.data.evaluation import id_recall, knn_recall, recall_of_ids


def test_knn_recall_counts_ties_and_id_recall_does_not():
    true = np.array([[1.0, 2.0, 3.0]])
    run = np.array([[1.0, 3.0, 3.0]])  # a different id at the same distance as the 3rd
    assert knn_recall(true, run, 3)[0] == 1.0
    assert id_recall(np.array([[0, 1, 2]]), np.array([[0, 2, 7]]), 3)[0] == pytest.approx(2 / 3)


def test_recall_of_ids_on_real_data(bigann10k):
    ds = bigann10k
    assert recall_of_ids(ds.train, ds.test, ds.distances, ds.neighbors[:, :10], ds.distance) == 1.0
    wrong = np.full((len(ds.test), 10), -1)
    wrong[:, 0] = ds.neighbors[:, 0]  # only the nearest found, the rest missing
    assert recall_of_ids(ds.train, ds.test, ds.distances, wrong, ds.distance) == pytest.approx(0.1)


def test_first_rows_recomputes_ground_truth(bigann10k):
    cut = first_rows(bigann10k, 2000)
    assert cut.train.shape == (2000, 128) and cut.name.endswith("-n2000")
    assert cut.neighbors.max() < 2000
    assert recall_of_ids(cut.train, cut.test, cut.distances, cut.neighbors[:, :10],
                         cut.distance) == 1.0
    assert first_rows(bigann10k, None) is bigann10k
    with pytest.raises(ValueError, match="positive number of rows"):
        first_rows(bigann10k, 0)
