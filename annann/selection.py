"""Small numba kernels to select and sort short arrays in place.

numba's own ``np.partition`` and ``np.argsort`` cost 3-10 s of JIT compilation per signature and
allocate on every call; these take well under a second to compile, work in place, and break
ties by id so an order never depends on the algorithm or the thread count.
"""

from numba import njit


@njit(cache=True)
def select_kth(vals, k):
    """The k-th smallest (0-based) value of vals, by quickselect; reorders vals in place."""
    lo = 0
    hi = vals.shape[0] - 1
    while lo < hi:
        mid = (lo + hi) >> 1
        if vals[mid] < vals[lo]:
            vals[mid], vals[lo] = vals[lo], vals[mid]
        if vals[hi] < vals[lo]:
            vals[hi], vals[lo] = vals[lo], vals[hi]
        if vals[hi] < vals[mid]:
            vals[hi], vals[mid] = vals[mid], vals[hi]
        pivot = vals[mid]
        i = lo
        j = hi
        while i <= j:
            while vals[i] < pivot:
                i += 1
            while vals[j] > pivot:
                j -= 1
            if i <= j:
                vals[i], vals[j] = vals[j], vals[i]
                i += 1
                j -= 1
        if k <= j:
            hi = j
        elif k >= i:
            lo = i
        else:
            return vals[k]
    return vals[k]


@njit(cache=True, inline="always")
def pair_before(keys, ids, a, b):
    """Whether item a sorts before item b: smaller key, then smaller id."""
    return keys[a] < keys[b] or (keys[a] == keys[b] and ids[a] < ids[b])


@njit(cache=True)
def sift_down(keys, ids, root, size):
    """Restore the max-heap order (by key, then id) below root in keys/ids[:size]."""
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
        sift_down(keys, ids, root, size)
    for end in range(size - 1, 0, -1):
        keys[0], keys[end] = keys[end], keys[0]
        ids[0], ids[end] = ids[end], ids[0]
        sift_down(keys, ids, 0, end)
