"""core/distances.py: the in-kernel query preparation and distance conversion."""

import numpy as np


def test_in_kernel_query_preparation_matches_the_numpy_path():
    """prepare_query / convert_distances (inside search kernels) = normalize_rows / to_metric."""
    from annann.core.distances import convert_distances, normalize_rows, prepare_query, to_metric

    rng = np.random.default_rng(3)
    q = rng.normal(size=25).astype(np.float32)
    out = np.empty_like(q)
    ok, v = prepare_query(q, True, out)
    assert ok and v is out
    np.testing.assert_allclose(v, normalize_rows(q[None])[0], rtol=1e-6)
    ok, v = prepare_query(q, False, out)
    assert ok and np.array_equal(v, q)
    ok, v = prepare_query(np.zeros(4, np.float32), True, np.empty(4, np.float32))
    assert ok and not v.any()  # a zero vector stays zero
    for bad in (np.nan, np.inf, -np.inf):
        q2 = q.copy()
        q2[7] = bad
        assert not prepare_query(q2, True, out)[0] and not prepare_query(q2, False, out)[0]
    sq = np.abs(rng.normal(size=10)).astype(np.float32)
    sq[0] = -1e-7  # rounding below zero clips to 0
    for angular, metric in ((True, "angular"), (False, "euclidean")):
        d = sq.copy()
        convert_distances(d, angular)
        np.testing.assert_allclose(d, to_metric(sq.copy(), metric), rtol=1e-6)


def test_four_row_kernel_matches_one_row_at_a_time(bigann10k):
    """sq_l2_vec_four (the graph walk's) gives each row's sq_l2_vec distance, in order."""
    from annann.core.distances import sq_l2_vec, sq_l2_vec_four

    X = np.ascontiguousarray(bigann10k.train, dtype=np.float32)
    q = np.ascontiguousarray(bigann10k.test[0], dtype=np.float32)
    rows = (5, 9000, 17, 5)  # a repeated row too
    four = sq_l2_vec_four(q, X, *rows)
    one = [sq_l2_vec(q, X, r) for r in rows]
    np.testing.assert_allclose(four, one, rtol=1e-5)
    np.testing.assert_allclose(one, ((X[list(rows)] - q) ** 2).sum(1), rtol=1e-4)
