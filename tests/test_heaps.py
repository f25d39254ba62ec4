"""Bounded max-heaps: keep the K smallest distinct ids, reject duplicates and worse keys."""

import numpy as np

from annann.heaps import count_filled, empty_heaps, heap_push, sorted_rows


def test_heap_keeps_k_smallest_distinct():
    rng = np.random.default_rng(0)
    K = 7
    ids, keys, flags = empty_heaps(3, K)
    pushes = [(int(j), float(d)) for j, d in zip(rng.integers(0, 40, 300), rng.random(300))]
    best = {}
    for j, d in pushes:
        heap_push(ids, keys, flags, 1, j, np.float32(d), 1)
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


def test_heap_rejects_duplicates_and_worse():
    ids, keys, flags = empty_heaps(1, 3)
    assert heap_push(ids, keys, flags, 0, 5, np.float32(1.0), 1) == 1
    assert heap_push(ids, keys, flags, 0, 5, np.float32(0.5), 1) == 0  # same id
    assert heap_push(ids, keys, flags, 0, 6, np.float32(2.0), 0) == 1
    assert heap_push(ids, keys, flags, 0, 7, np.float32(3.0), 1) == 1
    assert keys[0, 0] == 3.0 and ids[0, 0] == 7  # root is the worst
    assert heap_push(ids, keys, flags, 0, 8, np.float32(4.0), 1) == 0  # worse than the worst
    assert heap_push(ids, keys, flags, 0, 9, np.float32(0.1), 1) == 1
    assert sorted(ids[0].tolist()) == [5, 6, 9]
    assert flags[0, ids[0].tolist().index(6)] == 0  # payload travels with its entry
