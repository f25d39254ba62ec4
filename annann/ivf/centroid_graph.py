"""The HNSW over the cluster centres (seed 000: "fit HNSW to the cluster centroids"): hnswlib builds
it, our numba kernel walks it, so a whole query (routing, ranking, scan) is one numba call.

Build: hnswlib with one thread (its multi-threaded insertion makes the graph depend on thread
timing: two identical builds routed some queries to different clusters; a few thousand centres
are quick to insert alone). The graph is then read out of hnswlib's state
into arrays (bottom layer: neighbours and degrees per centre; upper layers: one neighbour block
per centre and level), the only form stored and searched. Search (``route``): greedy descent
through the upper layers from hnswlib's entry point, then the best-first beam search of
``core.graph_search`` on the bottom layer with a beam ef of max(n, 32): hnswlib's Python call
alone was a large share of a query, and with ef = n some of the n nearest centres were missed,
which cost recall (docs/design-notes.md).

exact=True skips the walk and ranks every centre (``nearest_centres``): for centres an HNSW
searches badly, such as Neural LSH's logit centres (inner products turned into distances), where
the walk with ef = max(C, 32) missed enough of the top-C parts to cost much recall
(docs/design-notes.md).
"""

import hnswlib
import numpy as np
from numba import njit

from ..core.distances import sq_l2_vec
from ..core.graph_search import beam_search, visited_set
from ..core.heaps import heap_push, sort_pairs

MIN_EF = 32
EXACT = 0  # the ef that asks route for every centre ranked exactly
ARRAYS = ("bottom", "bottom_degrees", "upper", "upper_degrees", "upper_start", "levels")


@njit(cache=True)
def descend_layers(z, centres, upper, upper_degrees, upper_start, entry, top_level):
    """Greedy walk from entry down to layer 1: at each layer move to any nearer neighbour until
    none is nearer. Returns (node reached, its squared distance, distances computed)."""
    cur = entry
    cur_d = sq_l2_vec(z, centres, cur)
    comps = 1
    for level in range(top_level, 0, -1):
        moved = True
        while moved:
            moved = False
            block = upper_start[cur] + level - 1
            for s in range(upper_degrees[block]):
                c = upper[block, s]
                d = sq_l2_vec(z, centres, c)
                comps += 1
                if d < cur_d:
                    cur_d, cur, moved = d, c, True
    return cur, cur_d, comps


@njit(cache=True)
def nearest_centres(z, centres, n):
    """The n centres nearest to z by exhaustive comparison (ids, squared distances, comps)."""
    ids = np.full((1, n), -1, dtype=np.int64)
    keys = np.full((1, n), np.inf, dtype=np.float32)
    for c in range(centres.shape[0]):
        d = sq_l2_vec(z, centres, c)
        if d < keys[0, 0]:
            heap_push(ids, keys, ids, 0, c, d, c)
    sort_pairs(keys[0], ids[0], n)
    return ids[0], keys[0], centres.shape[0]


@njit(cache=True)
def route(z, centres, bottom, bottom_degrees, upper, upper_degrees, upper_start, entry,
          top_level, n, ef, bits, touched):
    """The n centres nearest to z (ids int64 nearest first, squared distances, comps); every
    centre ranked when ef is EXACT."""
    if ef == EXACT:
        return nearest_centres(z, centres, n)
    start, _, comps = descend_layers(z, centres, upper, upper_degrees, upper_start, entry,
                                     top_level)
    entries = np.empty(1, dtype=np.int64)
    entries[0] = start
    ids, d, walked = beam_search(z, centres, bottom, bottom_degrees, entries, 1, n, max(ef, n),
                                 np.float32(np.inf), bits, touched)
    return ids, d, comps + walked


def build_hnsw(centres, M, ef_construction, seed):
    """hnswlib's HNSW over the centres (labels 0..k-1), built with one thread."""
    index = hnswlib.Index(space="l2", dim=centres.shape[1])
    index.init_index(max_elements=centres.shape[0], ef_construction=ef_construction, M=M,
                     random_seed=seed)
    index.set_num_threads(1)
    index.add_items(centres, np.arange(centres.shape[0]))
    return index


def hnsw_arrays(index):
    """The graph of an hnswlib index as arrays indexed by label (see the module docstring)."""
    st = index.__getstate__()[0]
    n = int(st["cur_element_count"])
    size, m0, m = int(st["size_data_per_element"]), int(st["max_M0"]), int(st["max_M"])
    raw0 = np.asarray(st["data_level0"]).view(np.uint8).reshape(n, size)
    label_of = raw0[:, st["label_offset"]:st["label_offset"] + 8].copy().view(np.uint64).ravel()
    link0 = raw0[:, :4 * (m0 + 1)].copy().view(np.uint32)
    levels = np.asarray(st["element_levels"], dtype=np.int64)
    per_level = int(st["size_links_per_element"]) // 4
    flat = np.asarray(st["link_lists"]).view(np.uint8).copy().view(np.uint32)
    blocks = flat.reshape(-1, per_level) if flat.size else np.zeros((0, per_level), np.uint32)
    if not (blocks.shape[0] == levels.sum() and per_level == m + 1):
        raise ValueError("hnswlib state: unexpected layout of the upper layers")
    order = np.argsort(label_of, kind="stable")  # internal id -> label, here the identity
    internal_to_label = label_of.astype(np.int64)
    first_block = np.concatenate([[0], np.cumsum(levels)[:-1]]).astype(np.int64)

    def as_labels(links):
        """Neighbour lists (header word + slots) -> (label ids, -1 past the degree; degrees)."""
        degrees = (links[:, 0] & 0xFFFF).astype(np.int32)
        slots = links[:, 1:].astype(np.int64)
        used = np.arange(slots.shape[1])[None, :] < degrees[:, None]
        return np.where(used, internal_to_label[np.where(used, slots, 0)], -1).astype(np.int32), \
            degrees

    bottom, bottom_degrees = as_labels(link0)
    bottom, bottom_degrees = bottom[order], bottom_degrees[order]
    upper, upper_degrees = as_labels(blocks)
    upper_start = np.where(levels > 0, first_block, -1)[order]
    entry = int(internal_to_label[int(st["enterpoint_node"])])
    return {"bottom": bottom, "bottom_degrees": bottom_degrees, "upper": upper,
            "upper_degrees": upper_degrees, "upper_start": upper_start,
            "levels": levels[order], "entry": entry, "top_level": int(st["max_level"])}


class CentroidGraph:
    """HNSW over (k, e) centres with labels 0..k-1, searched by our numba kernel."""

    def __init__(self, centers, M=16, ef_construction=200, seed=0, arrays=None, exact=False):
        self.centres = np.ascontiguousarray(centers, dtype=np.float32)
        self.n, self.dim = self.centres.shape
        self.M, self.ef_construction, self.seed = int(M), int(ef_construction), int(seed)
        self.exact = bool(exact)
        if arrays is None:
            arrays = hnsw_arrays(build_hnsw(self.centres, self.M, self.ef_construction,
                                            self.seed))
        self._set(arrays)

    def _set(self, a):
        for name in ARRAYS:
            setattr(self, name, np.ascontiguousarray(a[name]))
        self.entry, self.top_level = int(a["entry"]), int(a["top_level"])
        self.bits, self.touched = visited_set(self.n)

    def args(self, n):
        """The route kernel's arguments after z."""
        n = min(int(n), self.n)
        return (self.centres, self.bottom, self.bottom_degrees, self.upper, self.upper_degrees,
                self.upper_start, self.entry, self.top_level, n,
                EXACT if self.exact else max(n, MIN_EF), self.bits, self.touched)

    def walk_args(self):
        """The graph arrays of the route kernel (everything after z but n and ef), then whether
        every centre is ranked exactly, then the visited set: for kernels that route more than
        once per query with counts of their own."""
        return (self.centres, self.bottom, self.bottom_degrees, self.upper, self.upper_degrees,
                self.upper_start, self.entry, self.top_level, self.exact, self.bits,
                self.touched)

    def query(self, Z, n):
        """Labels (m, n) int64 of the n nearest centres to each row of Z (m, e), nearest first."""
        Z = np.ascontiguousarray(Z, dtype=np.float32)
        out = np.empty((Z.shape[0], min(int(n), self.n)), dtype=np.int64)
        args = self.args(n)
        for t in range(Z.shape[0]):
            out[t] = route(Z[t], *args)[0]
        return out

    def state(self):
        """The graph as arrays and scalars (what an index stores)."""
        out = {name: getattr(self, name) for name in ARRAYS}
        return out, {"entry": self.entry, "top_level": self.top_level, "M": self.M,
                     "ef_construction": self.ef_construction, "seed": self.seed,
                     "exact": self.exact}

    @classmethod
    def from_state(cls, centres, arrays, scalars):
        """A graph from state(); ValueError if the arrays do not fit the centres."""
        k = centres.shape[0]
        try:
            ok = (arrays["bottom"].shape[0] == k and arrays["bottom_degrees"].shape == (k,) and
                  arrays["upper_start"].shape == (k,) and arrays["levels"].shape == (k,) and
                  arrays["upper"].shape[0] == arrays["upper_degrees"].shape[0] ==
                  int(arrays["levels"].sum()) and 0 <= int(scalars["entry"]) < k)
            graph = cls.__new__(cls)
            graph.centres = np.ascontiguousarray(centres, dtype=np.float32)
            graph.n, graph.dim = graph.centres.shape
            graph.M, graph.ef_construction = int(scalars["M"]), int(scalars["ef_construction"])
            graph.seed = int(scalars["seed"])
            graph.exact = bool(scalars.get("exact", False))
            graph._set({**arrays, **scalars})
        except (KeyError, TypeError, IndexError) as exc:
            raise ValueError(f"centroid graph: incomplete state ({exc})") from exc
        if not ok:
            raise ValueError("centroid graph: arrays do not fit the centres")
        return graph

    def nbytes(self):
        """Bytes of the graph's arrays (the centres are counted by the index)."""
        return int(sum(getattr(self, name).nbytes for name in ARRAYS))
