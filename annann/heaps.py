"""Bounded max-heaps stored as rows of 2-D arrays, for numba kernels.

Row ``r`` of ``(ids, keys, payload)`` is one heap of capacity K with its largest key at slot 0, so
"is this candidate better than my current worst?" is one comparison. Empty slots hold id -1 and key
+inf. ``payload`` carries a per-entry value alongside the key: the NN-descent "new" flag (uint8) for
neighbour lists, or the edge distance for sampled candidate lists (keyed by a random priority).
"""

import numpy as np
from numba import njit


def empty_heaps(n, capacity, payload_dtype=np.uint8):
    """Return (ids int32, keys float32, payload) for n empty heaps of the given capacity."""
    ids = np.full((n, capacity), -1, dtype=np.int32)
    keys = np.full((n, capacity), np.inf, dtype=np.float32)
    payload = np.zeros((n, capacity), dtype=payload_dtype)
    return ids, keys, payload


@njit(cache=True, inline="always")
def contains_id(ids, row, j):
    """True if id j is already in heap row."""
    for s in range(ids.shape[1]):
        if ids[row, s] == j:
            return True
    return False


@njit(cache=True, inline="always")
def heap_push(ids, keys, payload, row, j, key, value):
    """Insert (j, key, value) into heap row if key beats its worst entry and j is absent.

    Returns 1 if inserted (the worst entry is evicted), else 0.
    """
    if key >= keys[row, 0]:
        return 0
    if contains_id(ids, row, j):
        return 0
    cap = ids.shape[1]
    pos = 0
    while True:
        left = 2 * pos + 1
        if left >= cap:
            break
        right = left + 1
        child = left
        if right < cap and keys[row, right] > keys[row, left]:
            child = right
        if keys[row, child] <= key:
            break
        ids[row, pos] = ids[row, child]
        keys[row, pos] = keys[row, child]
        payload[row, pos] = payload[row, child]
        pos = child
    ids[row, pos] = j
    keys[row, pos] = key
    payload[row, pos] = value
    return 1


@njit(cache=True)
def count_filled(ids, row):
    """Number of occupied slots of heap row."""
    c = 0
    for s in range(ids.shape[1]):
        if ids[row, s] >= 0:
            c += 1
    return c


def sorted_rows(ids, keys):
    """Copies of (ids, keys) with each row sorted by ascending key (empty slots last)."""
    order = np.argsort(keys, axis=1, kind="stable")
    return np.take_along_axis(ids, order, axis=1), np.take_along_axis(keys, order, axis=1)
