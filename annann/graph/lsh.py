"""Variable-length-code LSH ("changeable length code", seed 003): even buckets by recursive splits.

Each table draws one random direction per code bit (depth). A bucket holding more than
``bucket_size`` points is split by one more bit: its points are projected on that depth's direction
and cut at the bucket's median projection (the threshold is stored with the bucket), recursively,
until every bucket holds at most ``bucket_size`` points. So bucket sizes stay within
(bucket_size / 2, bucket_size] however clustered the data is - the uneven-bucket problem of plain
fixed-length random-projection LSH that the seed points out.

Directions: ``"data"`` (default) takes each bit's direction as the difference of two random data
rows, so projections follow the data's spread (a better start graph, and NN-descent reaches its
target recall sooner: results/knngraph/, docs/design-notes.md); ``"gaussian"`` is the
seed's data-independent Gaussian projection. Both are one fixed direction per code bit, so a
query hashes the same way either way.

Each table is a binary trie over a permutation ``order`` of the point ids: every trie node owns a
contiguous range of ``order``, children split their parent's range, leaves are the buckets. A query
descends the trie (one dot product per bit); ``LSHIndex`` re-ranks the union of its buckets.
"""

import math

import numpy as np
from numba import njit, prange

from ..core.distances import check_metric, normalize_rows, sq_l2_vec, to_metric
from ..core.graph_search import clear_marks, is_marked, mark, visited_set
from ..core.heaps import select_kth, sort_pairs
from ..core.validation import (NotFittedError, as_float_matrix, as_query_vector, check_k,
                               check_positive_int)


@njit(cache=True, parallel=True)
def split_segments(order, proj, depth, starts, ends, thresholds):
    """Median-split each segment order[s:e] by proj[:, depth]; store the cut value per segment.

    The lower half (by projection) moves to order[s:mid], the upper half to order[mid:e], each
    keeping its relative order; a selection (select_kth) finds the median, so a level costs
    linear time rather than a sort. Ties at the median fill the lower half first.
    """
    for g in prange(starts.shape[0]):
        s = starts[g]
        e = ends[g]
        m = e - s
        mid = m // 2
        seg = order[s:e].copy()
        vals = np.empty(m, dtype=np.float32)
        for i in range(m):
            vals[i] = proj[seg[i], depth]
        med = select_kth(vals.copy(), mid - 1)
        below = 0
        for i in range(m):
            if vals[i] < med:
                below += 1
        ties_left = mid - below
        lo = s
        hi = s + mid
        lower_max = -np.inf
        upper_min = np.inf
        for i in range(m):
            v = vals[i]
            if v < med or (v == med and ties_left > 0):
                if v == med:
                    ties_left -= 1
                order[lo] = seg[i]
                lo += 1
                lower_max = max(lower_max, v)
            else:
                order[hi] = seg[i]
                hi += 1
                upper_min = min(upper_min, v)
        thresholds[g] = 0.5 * (lower_max + upper_min)


@njit(cache=True, fastmath=True)
def descend_path(q, directions, left, thresholds, root, path):
    """Walk one table's trie from root for q; fill path with the visited nodes, return its length.

    fastmath lets the dot product vectorise: in strict order its adds are one dependency chain
    per bit, a visible share of a high-dimensional query (docs/design-notes.md)."""
    node = root
    depth = 0
    path[0] = node
    while left[node] >= 0:
        v = np.float32(0.0)
        w = directions[depth]
        for i in range(q.shape[0]):
            v += w[i] * q[i]
        node = left[node] + (1 if v > thresholds[node] else 0)
        depth += 1
        path[depth] = node
    return depth + 1


@njit(cache=True)
def query_candidates(q, directions, left, thresholds, starts, ends, roots, orders, min_size,
                     bits, out):
    """Union over tables of the deepest trie node on q's path holding >= min_size points.

    Deduplicated with the visited set ``bits`` (``core.graph_search``): the ids written to out
    are left marked, for the caller to unmark (a beam search from them does). Returns how many.
    """
    n_tables = roots.shape[0]
    path = np.empty(directions.shape[1] + 1, dtype=np.int64)
    c = 0
    for t in range(n_tables):
        plen = descend_path(q, directions[t], left, thresholds, roots[t], path)
        node = path[plen - 1]
        for p in range(plen - 1, -1, -1):
            node = path[p]
            if ends[node] - starts[node] >= min_size:
                break
        for r in range(starts[node], ends[node]):
            j = orders[t, r]
            if not is_marked(bits, j):
                mark(bits, j)
                out[c] = j
                c += 1
    return c


@njit(cache=True)
def rank_candidates(q, X, cand, count, k):
    """The k nearest of cand[:count] to q, ties by smaller id: (ids int64, squared distances)."""
    d = np.empty(count, dtype=np.float32)
    for i in range(count):
        d[i] = sq_l2_vec(q, X, cand[i])
    ids = cand[:count].astype(np.int64)
    sort_pairs(d, ids, count)
    m = min(k, count)
    return ids[:m], d[:m]


def code_length(n, bucket_size):
    """Bits needed so that median splits bring n points down to buckets of <= bucket_size."""
    return max(1, math.ceil(math.log2(max(n, 2) / bucket_size))) + 1


DIRECTIONS = ("data", "gaussian")


def draw_directions(X, n_tables, n_bits, kind, rng):
    """(n_tables, n_bits, d) float32 unit directions: differences of random row pairs ("data")
    or Gaussian ("gaussian"); a zero difference (duplicate rows) falls back to Gaussian."""
    n, d = X.shape
    gauss = rng.standard_normal((n_tables, n_bits, d)).astype(np.float32)
    if kind == "gaussian":
        return gauss
    a = rng.integers(0, n, size=(n_tables, n_bits))
    b = rng.integers(0, n, size=(n_tables, n_bits))
    diff = X[a] - X[b]
    norm = np.linalg.norm(diff, axis=2, keepdims=True)
    return np.where(norm > 0, diff / np.where(norm > 0, norm, 1), gauss).astype(np.float32)


class LSHTables:
    """The t variable-length-code tables over one data matrix (arrays only, numba-friendly)."""

    def __init__(self, n_tables=4, bucket_size=32, seed=0, directions="data"):
        self.n_tables = check_positive_int(n_tables, "n_tables")
        self.bucket_size = check_positive_int(bucket_size, "bucket_size", minimum=2)
        self.seed = int(seed)
        if directions not in DIRECTIONS:
            raise ValueError(f"directions: must be one of {DIRECTIONS}, got {directions!r}")
        self.kind = directions

    def build(self, X):
        """Hash the rows of X (float32, C-contiguous) into n_tables tries of even buckets."""
        n, d = X.shape
        rng = np.random.default_rng(self.seed)
        L = code_length(n, self.bucket_size)
        self.directions = draw_directions(X, self.n_tables, L, self.kind, rng)
        lefts, threshs, starts, ends, roots = [], [], [], [], []
        self.orders = np.empty((self.n_tables, n), dtype=np.int32)
        offset = 0
        for t in range(self.n_tables):
            nodes = self._build_table(X, t)
            roots.append(offset)
            left = nodes[0].copy()
            left[left >= 0] += offset
            lefts.append(left)
            threshs.append(nodes[1])
            starts.append(nodes[2])
            ends.append(nodes[3])
            offset += nodes[0].shape[0]
        self.left = np.concatenate(lefts).astype(np.int64)
        self.thresholds = np.concatenate(threshs).astype(np.float32)
        self.starts = np.concatenate(starts).astype(np.int64)
        self.ends = np.concatenate(ends).astype(np.int64)
        self.roots = np.asarray(roots, dtype=np.int64)
        return self

    def _build_table(self, X, t):
        """Level-by-level median splits of oversized buckets; returns (left, thresh, start, end)."""
        n = X.shape[0]
        b = self.bucket_size
        order = np.arange(n, dtype=np.int32)
        proj = np.ascontiguousarray(X @ self.directions[t].T, dtype=np.float32)  # one column per bit
        left = np.array([-1], dtype=np.int64)
        thresh = np.zeros(1, dtype=np.float32)
        start = np.array([0], dtype=np.int64)
        end = np.array([n], dtype=np.int64)
        active = np.array([0] if n > b else [], dtype=np.int64)
        depth = 0
        while active.size:
            s, e = start[active], end[active]
            th = np.empty(active.size, dtype=np.float32)
            split_segments(order, proj, depth, s, e, th)
            mid = s + (e - s) // 2
            base = left.shape[0]
            left[active] = base + 2 * np.arange(active.size, dtype=np.int64)
            thresh[active] = th
            cs = np.stack([s, mid], axis=1).ravel()
            ce = np.stack([mid, e], axis=1).ravel()
            left = np.concatenate([left, np.full(cs.shape[0], -1, dtype=np.int64)])
            thresh = np.concatenate([thresh, np.zeros(cs.shape[0], dtype=np.float32)])
            start = np.concatenate([start, cs])
            end = np.concatenate([end, ce])
            active = (base + np.arange(cs.shape[0], dtype=np.int64))[(ce - cs) > b]
            depth += 1
        self.orders[t] = order
        return left, thresh, start, end

    ARRAYS = ("directions", "orders", "left", "thresholds", "starts", "ends", "roots")

    def relabel(self, new_id):
        """Rename the hashed points: point i becomes new_id[i] (the tries keep their shape)."""
        self.orders = new_id[self.orders].astype(np.int32)
        return self

    def state(self):
        """The built tables as a dict of arrays (what an index stores)."""
        return {a: getattr(self, a) for a in self.ARRAYS}

    @classmethod
    def from_state(cls, state, bucket_size, seed, directions, source="state"):
        """Tables rebuilt from state(); ValueError naming a missing or inconsistent array."""
        missing = [a for a in cls.ARRAYS if a not in state]
        if missing:
            raise ValueError(f"{source}: LSH tables lack {missing}")
        roots = np.asarray(state["roots"])
        tables = cls(max(1, roots.shape[0]), bucket_size, seed, directions)
        for a in cls.ARRAYS:
            setattr(tables, a, np.asarray(state[a]))
        n_nodes = tables.left.shape[0]
        if tables.directions.shape[0] != roots.shape[0] or tables.orders.shape[0] != roots.shape[0] \
                or not (tables.thresholds.shape[0] == tables.starts.shape[0] ==
                        tables.ends.shape[0] == n_nodes):
            raise ValueError(f"{source}: LSH tables have inconsistent shapes")
        return tables

    def buckets(self, t):
        """(order, bucket starts, bucket ends) of table t: the leaves, as ranges of order."""
        lo = self.roots[t]
        hi = self.roots[t + 1] if t + 1 < self.n_tables else self.left.shape[0]
        leaf = np.flatnonzero(self.left[lo:hi] < 0) + lo
        leaf = leaf[np.argsort(self.starts[leaf], kind="stable")]
        return self.orders[t], self.starts[leaf], self.ends[leaf]

    def bucket_sizes(self):
        """Sizes of every bucket of every table (one flat array)."""
        return np.concatenate([e - s for _, s, e in (self.buckets(t) for t in range(self.n_tables))])

    def candidates(self, q, min_size, bits, out, n_tables=None):
        """Ids in q's buckets (deepest node with >= min_size points) over the first n_tables,
        written to out (their marks in the visited set ``bits`` cleared again); returns how
        many."""
        nt = self.n_tables if n_tables is None else n_tables
        c = query_candidates(q, self.directions[:nt], self.left, self.thresholds, self.starts,
                             self.ends, self.roots[:nt], self.orders, min_size, bits, out)
        clear_marks(bits, out, c)
        return c


class LSHIndex:
    """The variable-length LSH alone as a search index: hash the query, re-rank its buckets."""

    def __init__(self, metric="euclidean", n_tables=8, bucket_size=64, seed=0, directions="data"):
        self.metric = check_metric(metric)
        self.tables = LSHTables(n_tables, bucket_size, seed, directions)
        self.X = None

    def fit(self, X):
        """Hash the rows of X into the LSH tables; returns self."""
        X = as_float_matrix(X, name="X")
        if self.metric == "angular":
            X = normalize_rows(X)
        self.X = np.ascontiguousarray(X)
        self.tables.build(self.X)
        self._bits, _ = visited_set(self.X.shape[0], 0)
        self._out = np.empty(self.X.shape[0], dtype=np.int64)
        self.last_candidates = 0
        return self

    @property
    def size(self):
        """Number of indexed vectors (0 before fit)."""
        return 0 if self.X is None else int(self.X.shape[0])

    def search(self, q, k, min_candidates=None):
        """(ids, distances) of the k nearest among q's buckets; min_candidates widens each bucket."""
        if self.X is None:
            raise NotFittedError("LSHIndex: call fit() first")
        q = as_query_vector(q, self.X.shape[1])
        k = check_k(k, self.X.shape[0])
        if self.metric == "angular":
            q = normalize_rows(q[None])[0]
        m = k if min_candidates is None else max(k, check_positive_int(min_candidates,
                                                                       "min_candidates"))
        c = self.tables.candidates(q, m, self._bits, self._out)
        self.last_candidates = c
        ids, d2 = rank_candidates(q, self.X, self._out, c, k)
        return ids, to_metric(d2, self.metric)
