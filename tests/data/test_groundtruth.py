import numpy as np
import pytest

from annann.core.distances import distances
from annann.data.groundtruth import exact_knn


@pytest.mark.parametrize("fixture", ["bigann10k", "glove12k"])
def test_exact_knn_matches_the_published_ground_truth(fixture, request):
    ds = request.getfixturevalue(fixture)
    ids, dists = exact_knn(ds.train, ds.test, 100, ds.distance)
    assert np.array_equal(ids, ds.neighbors)
    np.testing.assert_allclose(dists, ds.distances, atol=1e-4)


def test_small_blocks_give_the_same_answer(bigann10k):
    a = exact_knn(bigann10k.train, bigann10k.test, 10, "euclidean")
    b = exact_knn(bigann10k.train, bigann10k.test, 10, "euclidean", query_block=7,
                  train_block=333)
    assert np.array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_ties_go_to_the_smaller_id_and_distances_are_exact():
    X = np.array([[1, 0], [0, 1], [-1, 0], [5, 5]], dtype=np.float32)
    ids, d = exact_knn(X, np.zeros((1, 2)), 3, "euclidean")
    assert ids.tolist() == [[0, 1, 2]]
    np.testing.assert_allclose(d, [[1, 1, 1]])
    np.testing.assert_allclose(distances(np.zeros(2), X[:1], "angular"), [1.0])


def test_exact_knn_refuses_bad_input(bigann10k):
    with pytest.raises(ValueError, match="larger than"):
        exact_knn(bigann10k.train[:5], bigann10k.test, 6)
    with pytest.raises(ValueError, match="wrong dimension"):
        exact_knn(bigann10k.train, bigann10k.test[:, :5], 1)
    with pytest.raises(ValueError, match="unknown metric"):
        exact_knn(bigann10k.train, bigann10k.test, 1, "hamming")
