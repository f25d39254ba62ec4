import numpy as np
import pytest

from annann.selection import select_kth, sort_pairs


@pytest.mark.parametrize("n", [1, 2, 3, 7, 64, 1001])
def test_select_kth_matches_sorted_order(n):
    rng = np.random.default_rng(n)
    for vals in (rng.standard_normal(n).astype(np.float32),
                 rng.integers(0, 3, n).astype(np.float32),  # many ties
                 np.sort(rng.standard_normal(n)).astype(np.float32)[::-1].copy()):
        for k in {0, n // 2, n - 1}:
            assert select_kth(vals.copy(), k) == np.sort(vals)[k]


def test_select_kth_keeps_the_multiset():
    vals = np.random.default_rng(0).standard_normal(500).astype(np.float32)
    work = vals.copy()
    select_kth(work, 250)
    assert np.array_equal(np.sort(work), np.sort(vals))
    assert work[:250].max() <= work[250] <= work[251:].min()


@pytest.mark.parametrize("n", [0, 1, 2, 5, 200])
def test_sort_pairs_orders_by_key_then_id(n):
    rng = np.random.default_rng(n)
    keys = rng.integers(0, 4, n).astype(np.float32)  # ties, so the id order matters
    ids = rng.permutation(n).astype(np.int64)
    k, i = keys.copy(), ids.copy()
    sort_pairs(k, i, n)
    order = np.lexsort((ids, keys))
    assert np.array_equal(k, keys[order])
    assert np.array_equal(i, ids[order])


def test_sort_pairs_leaves_the_tail_alone():
    keys = np.array([3, 1, 2, 0, -1], dtype=np.float32)
    ids = np.array([0, 1, 2, 3, 4], dtype=np.int32)
    sort_pairs(keys, ids, 3)
    assert keys.tolist() == [1, 2, 3, 0, -1]
    assert ids.tolist() == [1, 2, 0, 3, 4]
