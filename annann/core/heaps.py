"""Heaps, pools and selection for numba kernels: the one home of every ordered structure.

* Bounded max-heaps stored as rows of 2-D arrays ``(ids, keys, payload)``: row ``r`` is one heap of
  capacity K with its largest key at slot 0, so "is this candidate better than my current worst?"
  is one comparison. Empty slots hold id -1 and key +inf, so a heap is always full and a push is
  one sift-down from the root. ``payload`` carries a per-entry value beside the key: the
  NN-descent "new" flag (uint8) of a neighbour list, or the id itself where nothing else is
  needed (the cluster scan, the candidate lists). ``heap_push`` is the push; ``checked_heap_push``
  first refuses an id already in the row (NN-descent lists, merges).
* A min-heap on flat arrays (``min_heap_push`` / ``min_heap_pop``): the nodes still to expand
  in a best-first graph walk.
* Selection and sorting of short arrays in place (``select_kth``, ``sort_pairs``), ties broken by
  id so an order never depends on the algorithm or the thread count; ``select_smallest`` keeps
  the smallest of a buffer with two payloads (the learned-score scan's candidates). numba's own
  ``np.partition`` / ``np.argsort`` take far longer to JIT-compile per signature and allocate
  on every call; these compile quickly and work in place (docs/design-notes.md).
"""

import numpy as np
from numba import njit


def empty_heaps(n, capacity, payload_dtype=np.uint8, id_dtype=np.int32):
    """Return (ids, keys float32, payload) for n empty heaps of the given capacity."""
    ids = np.full((n, capacity), -1, dtype=id_dtype)
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
    """Insert (j, key, value) into heap row if key beats its worst entry (which is evicted).

    The caller guarantees j is not in the row already. Returns 1 if inserted, else 0.
    """
    if key >= keys[row, 0]:
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


@njit(cache=True, inline="always")
def checked_heap_push(ids, keys, payload, row, j, key, value):
    """heap_push that refuses an id already in the row; returns 1 if inserted, else 0."""
    if key >= keys[row, 0] or contains_id(ids, row, j):
        return 0
    return heap_push(ids, keys, payload, row, j, key, value)


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


@njit(cache=True, inline="always")
def min_heap_push(keys, ids, size, key, j):
    """Add (key, j) to the min-heap keys/ids[:size] (capacity permitting); returns the new size."""
    pos = size
    while pos > 0:
        parent = (pos - 1) >> 1
        if keys[parent] <= key:
            break
        keys[pos] = keys[parent]
        ids[pos] = ids[parent]
        pos = parent
    keys[pos] = key
    ids[pos] = j
    return size + 1


@njit(cache=True, inline="always")
def min_sift_down(keys, ids, pos, size, key, j):
    """Place (key, j) at pos of the min-heap keys/ids[:size] and move it down to where it belongs
    (the smaller child moves up while it is below key)."""
    while True:
        child = 2 * pos + 1
        if child >= size:
            break
        if child + 1 < size and keys[child + 1] < keys[child]:
            child += 1
        if keys[child] >= key:
            break
        keys[pos] = keys[child]
        ids[pos] = ids[child]
        pos = child
    keys[pos] = key
    ids[pos] = j


@njit(cache=True)
def min_heapify(keys, ids, size):
    """Make keys/ids[:size] a min-heap by key, in place, bottom-up: O(size), where sorting would
    be O(size log size) for a consumer that pops only the first few."""
    for root in range(size // 2 - 1, -1, -1):
        min_sift_down(keys, ids, root, size, keys[root], ids[root])


@njit(cache=True, inline="always")
def min_heap_pop(keys, ids, size):
    """Remove the smallest entry of the min-heap keys/ids[:size]; returns (its id, new size)."""
    top = ids[0]
    size -= 1
    min_sift_down(keys, ids, 0, size, keys[size], ids[size])
    return top, size


@njit(cache=True, inline="always")
def swap_three(keys, a, b, i, j):
    """Swap entries i and j of keys and of its two payloads a and b."""
    keys[i], keys[j] = keys[j], keys[i]
    a[i], a[j] = a[j], a[i]
    b[i], b[j] = b[j], b[i]


@njit(cache=True)
def select_smallest(keys, a, b, size, count):
    """Reorder keys[:size] (a and b alongside) so that keys[:count] are the count smallest (in no
    order); returns the largest of them (inf when count is 0). Quickselect with a median-of-three
    pivot and Hoare partitions, as select_kth, carrying two payloads: a scan that meets thousands
    of estimates and keeps the best few hundred appends to a buffer twice that size and calls
    this when it is full, O(1) amortised per estimate kept where a heap sifts for each
    (docs/design-notes.md); the largest kept is the bound later estimates are checked against."""
    if count <= 0:
        return np.float32(np.inf)
    count = min(count, size)
    lo, hi, target = 0, size - 1, count - 1
    while lo < hi:
        mid = (lo + hi) // 2
        x, y, z = keys[lo], keys[mid], keys[hi]
        pivot = max(min(x, y), min(max(x, y), z))
        i, j = lo, hi
        while i <= j:
            while keys[i] < pivot:
                i += 1
            while keys[j] > pivot:
                j -= 1
            if i <= j:
                swap_three(keys, a, b, i, j)
                i += 1
                j -= 1
        if target <= j:
            hi = j
        elif target >= i:
            lo = i
        else:
            break
    worst = keys[0]
    for t in range(1, count):
        worst = max(worst, keys[t])
    return worst


@njit(cache=True)
def select_kth(vals, k):
    """The k-th smallest (0-based) value of vals, by quickselect; reorders vals in place. One
    partition loop serves both selections: vals is passed as its own two payloads (three swaps
    of one pair leave it swapped once)."""
    return select_smallest(vals, vals, vals, vals.shape[0], k + 1)


@njit(cache=True, inline="always")
def pair_before(keys, ids, a, b):
    """Whether item a sorts before item b: smaller key, then smaller id."""
    return keys[a] < keys[b] or (keys[a] == keys[b] and ids[a] < ids[b])


@njit(cache=True)
def sift_down_pairs(keys, ids, root, size):
    """Restore the max-heap order (by key, then id) below root in keys/ids[:size] (heapsort)."""
    while True:
        child = 2 * root + 1
        if child >= size:
            return
        if child + 1 < size and pair_before(keys, ids, child, child + 1):
            child += 1
        if not pair_before(keys, ids, root, child):
            return
        keys[root], keys[child] = keys[child], keys[root]
        ids[root], ids[child] = ids[child], ids[root]
        root = child


@njit(cache=True)
def sort_pairs(keys, ids, size):
    """Sort keys[:size] ascending, ids alongside, ties by smaller id (heapsort, in place)."""
    for root in range(size // 2 - 1, -1, -1):
        sift_down_pairs(keys, ids, root, size)
    for end in range(size - 1, 0, -1):
        keys[0], keys[end] = keys[end], keys[0]
        ids[0], ids[end] = ids[end], ids[0]
        sift_down_pairs(keys, ids, 0, end)
