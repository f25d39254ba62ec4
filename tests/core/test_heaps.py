"""core.heaps: bounded max-heaps keep the K smallest (distinct) ids, the min-heap pops in order,
selection and sorting match numpy's with ties broken by id."""

import numpy as np
import pytest

from annann.core.heaps import (checked_heap_push, count_filled, empty_heaps, heap_push,
                               min_heap_pop, min_heap_push, select_kth, select_smallest,
                               sort_pairs, sorted_rows)


def test_heap_keeps_k_smallest_distinct():
    rng = np.random.default_rng(0)
    K = 7
    ids, keys, flags = empty_heaps(3, K)
    pushes = [(int(j), float(d)) for j, d in zip(rng.integers(0, 40, 300), rng.random(300))]
    best = {}
    for j, d in pushes:
        checked_heap_push(ids, keys, flags, 1, j, np.float32(d), 1)
        best.setdefault(j, d)  # the heap keeps an id's first accepted key (duplicates rejected)
    s_ids, s_keys = sorted_rows(ids, keys)
    assert count_filled(ids, 1) == K
    assert (s_ids[0] == -1).all() and (s_ids[2] == -1).all()
    assert len(set(s_ids[1].tolist())) == K
    assert np.all(np.diff(s_keys[1]) >= 0)
    # every kept key is <= every key that was pushed for an id not kept (first pushes only)
    kept = set(s_ids[1].tolist())
    worst_kept = s_keys[1].max()
    firsts = {}
    for j, d in pushes:
        firsts.setdefault(j, np.float32(d))
    assert all(firsts[j] >= worst_kept for j in firsts if j not in kept)


def test_checked_heap_rejects_duplicates_and_worse():
    ids, keys, flags = empty_heaps(1, 3)
    assert checked_heap_push(ids, keys, flags, 0, 5, np.float32(1.0), 1) == 1
    assert checked_heap_push(ids, keys, flags, 0, 5, np.float32(0.5), 1) == 0  # same id
    assert checked_heap_push(ids, keys, flags, 0, 6, np.float32(2.0), 0) == 1
    assert checked_heap_push(ids, keys, flags, 0, 7, np.float32(3.0), 1) == 1
    assert keys[0, 0] == 3.0 and ids[0, 0] == 7  # root is the worst
    assert checked_heap_push(ids, keys, flags, 0, 8, np.float32(4.0), 1) == 0  # worse than all
    assert checked_heap_push(ids, keys, flags, 0, 9, np.float32(0.1), 1) == 1
    assert sorted(ids[0].tolist()) == [5, 6, 9]
    assert flags[0, ids[0].tolist().index(6)] == 0  # payload travels with its entry


def test_heap_push_keeps_the_k_smallest_of_distinct_ids():
    rng = np.random.default_rng(1)
    keys_in = rng.random(500).astype(np.float32)
    ids, keys, _ = empty_heaps(1, 10, id_dtype=np.int64)
    for j, d in enumerate(keys_in):
        heap_push(ids, keys, ids, 0, j, d, j)
    assert sorted(ids[0].tolist()) == sorted(np.argsort(keys_in)[:10].tolist())
    assert keys[0, 0] == np.sort(keys_in)[9]


def test_heap_push_with_fewer_items_than_capacity_leaves_empty_slots():
    ids, keys, _ = empty_heaps(1, 5, id_dtype=np.int64)
    for j, d in ((3, 0.5), (1, 0.2)):
        heap_push(ids, keys, ids, 0, j, np.float32(d), j)
    s_ids, s_keys = sorted_rows(ids, keys)
    assert s_ids[0].tolist() == [1, 3, -1, -1, -1] and np.isinf(s_keys[0, 2:]).all()


def test_min_heap_pops_in_ascending_order():
    rng = np.random.default_rng(2)
    vals = rng.random(300).astype(np.float32)
    keys = np.empty(300, np.float32)
    ids = np.empty(300, np.int64)
    size = 0
    for j, v in enumerate(vals[:200]):
        size = min_heap_push(keys, ids, size, v, j)
    out = []
    for _ in range(50):
        j, size = min_heap_pop(keys, ids, size)
        out.append(j)
    for j, v in enumerate(vals[200:], start=200):  # pushes after pops
        size = min_heap_push(keys, ids, size, v, j)
    while size:
        j, size = min_heap_pop(keys, ids, size)
        out.append(j)
    first = np.argsort(vals[:200], kind="stable")[:50].tolist()
    assert out[:50] == first
    rest = sorted(set(range(300)) - set(first), key=lambda j: vals[j])
    assert [vals[j] for j in out[50:]] == [vals[j] for j in rest]


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


@pytest.mark.parametrize("n", [0, 1, 2, 7, 300])
def test_min_heapify_then_pops_come_out_in_key_order(n):
    """A heap built bottom-up pops its entries smallest key first, each with its own id."""
    from annann.core.heaps import min_heap_pop, min_heapify

    rng = np.random.default_rng(n)
    keys = rng.random(n).astype(np.float32)
    ids = np.arange(n, dtype=np.int64) * 10
    k, i = keys.copy(), ids.copy()
    min_heapify(k, i, n)
    out, size = [], n
    while size > 0:
        top_key = k[0]
        j, size = min_heap_pop(k, i, size)
        out.append((top_key, j))
    assert [o[0] for o in out] == sorted(keys.tolist())
    assert all(keys[j // 10] == key for key, j in out)


@pytest.mark.parametrize("size, count", [(1, 1), (10, 3), (200, 100), (200, 200), (97, 1)])
def test_keeps_the_count_smallest_with_their_payloads(size, count):
    rng = np.random.default_rng(size + count)
    keys = rng.integers(0, 20, size).astype(np.float32)  # many ties
    a = keys * 2
    b = np.arange(size)
    original = dict(zip(b.tolist(), keys.tolist()))
    worst = select_smallest(keys, a, b, size, count)
    np.testing.assert_array_equal(np.sort(keys[:count]), np.sort(np.array(list(
        original.values()), np.float32))[:count])
    assert worst == keys[:count].max()
    np.testing.assert_array_equal(a, keys * 2)  # payloads moved with their keys
    assert sorted(b.tolist()) == list(range(size))
    assert all(original[i] == k for i, k in zip(b.tolist(), keys.tolist()))


def test_nothing_to_keep():
    keys = np.ones(4, np.float32)
    assert select_smallest(keys, keys.copy(), np.arange(4), 4, 0) == np.inf
