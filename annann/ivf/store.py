"""Vectors grouped by cluster in one contiguous buffer (RAM or a numpy memmap on disk).

Cluster c owns rows [starts[c], starts[c] + counts[c]) of ``vectors`` and may have spare rows up to
caps[c]; ``slot_ids`` holds each row's external id (-1 = free). Optional ``columns`` ride along
with the rows, always in RAM: arrays shaped (P, rows) whose column r belongs to row r; every move
of a row moves its columns. A column keeps the memory order it is given: C order (word-major: a
cluster's values are P contiguous runs, as the RaBitQ codes and factors of ``core.rabitq`` are
read with vector instructions) or Fortran order (row-major: a cluster's values are one contiguous
block, as the learned scores of ``learned.scores`` are read, eight rows at a time).
A sorted id -> row map (two int64 arrays, searched with np.searchsorted) replaces a Python
dict, so lookups are vectorised and cost 24 bytes per vector in total. A cluster that overflows on add moves to the end of the buffer with
slack; the buffer is re-laid out tightly when holes exceed half of it, when it must grow, or on
compact(). Removal tombstones rows and squeezes the touched clusters, keeping member order.
"""

import os
import shutil
import tempfile
import weakref
from pathlib import Path

import numpy as np
from numba import njit

STORAGE_MODES = ("memory", "disk")
GROWTH = 1.25


@njit(cache=True)
def compact_clusters(vectors, slot_ids, starts, counts, clusters):
    """Squeeze tombstoned rows (id -1) out of the given clusters, keeping order; updates counts.
    Returns (sources, destinations) of the rows moved, in the order moved (for the columns)."""
    total = 0
    for t in range(clusters.shape[0]):
        total += counts[clusters[t]]
    src = np.empty(total, dtype=np.int64)
    dst = np.empty(total, dtype=np.int64)
    moved = 0
    for t in range(clusters.shape[0]):
        c = clusters[t]
        s0 = starts[c]
        write = s0
        for row in range(s0, s0 + counts[c]):
            if slot_ids[row] < 0:
                continue
            if write != row:
                vectors[write, :] = vectors[row, :]
                slot_ids[write] = slot_ids[row]
                slot_ids[row] = -1
                src[moved] = row
                dst[moved] = write
                moved += 1
            write += 1
        counts[c] = write - s0
    return src[:moved], dst[:moved]


def column_like(cols, rows):
    """Zeros shaped (P, rows) of cols' dtype and memory order (see the module docstring)."""
    return np.zeros((cols.shape[0], rows), dtype=cols.dtype, order=column_order(cols))


def column_order(cols):
    """"F" for a row-major column (Fortran order, P > 1), else "C"."""
    return "F" if cols.shape[0] > 1 and not cols.flags.c_contiguous \
        and cols.flags.f_contiguous else "C"


def as_column(cols, like=None):
    """cols as a contiguous array in its own memory order (or like's)."""
    order = column_order(cols if like is None else like)
    return np.asfortranarray(cols) if order == "F" else np.ascontiguousarray(cols)


@njit(cache=True)
def move_columns(cols, src, dst):
    """cols[:, dst[t]] = cols[:, src[t]] in order t = 0, 1, ... (a move list that is safe to
    replay in order, as ``compact_clusters`` returns)."""
    for t in range(src.shape[0]):
        for p in range(cols.shape[0]):
            cols[p, dst[t]] = cols[p, src[t]]


@njit(cache=True)
def copy_column_ranges(src_cols, dst_cols, src, dst, lengths):
    """Column ranges src[t]..+lengths[t] of src_cols to dst[t].. of dst_cols (the columns twin
    of ``copy_ranges``; the same array twice is fine if the ranges are disjoint)."""
    for p in range(src_cols.shape[0]):
        for t in range(src.shape[0]):
            for r in range(lengths[t]):
                dst_cols[p, dst[t] + r] = src_cols[p, src[t] + r]


@njit(cache=True)
def copy_ranges(src_vec, src_ids, dst_vec, dst_ids, src, dst, lengths):
    """Copy row ranges src[t]..+lengths[t] to dst[t] (buffers may be the same if disjoint)."""
    for t in range(src.shape[0]):
        for r in range(lengths[t]):
            dst_vec[dst[t] + r, :] = src_vec[src[t] + r, :]
            dst_ids[dst[t] + r] = src_ids[src[t] + r]


@njit(cache=True)
def sum_clusters(vectors, starts, counts):
    """Per-cluster float64 sums of the member vectors (k, d)."""
    k = starts.shape[0]
    out = np.zeros((k, vectors.shape[1]), dtype=np.float64)
    for c in range(k):
        for row in range(starts[c], starts[c] + counts[c]):
            for j in range(vectors.shape[1]):
                out[c, j] += vectors[row, j]
    return out


def concat_ranges(starts, lengths):
    """All row indices of the ranges [starts[t], starts[t] + lengths[t]) concatenated (int64)."""
    starts = np.asarray(starts, dtype=np.int64)
    lengths = np.asarray(lengths, dtype=np.int64)
    total = int(lengths.sum())
    if total == 0:
        return np.empty(0, dtype=np.int64)
    offsets = np.cumsum(lengths) - lengths
    return np.repeat(starts - offsets, lengths) + np.arange(total, dtype=np.int64)


class ClusterStore:
    """Grouped storage of (id, vector) pairs with vectorised add/remove; see the module docstring."""

    def __init__(self, dim, n_clusters, storage="memory", directory=None, columns=None):
        if storage not in STORAGE_MODES:
            raise ValueError(f"storage: expected one of {STORAGE_MODES}, got {storage!r}")
        self.dim = int(dim)
        self.n_clusters = int(n_clusters)
        self.storage = storage
        self.directory = None
        if storage == "disk":
            if directory is None:
                directory = tempfile.mkdtemp(prefix="annann-store-")
                weakref.finalize(self, shutil.rmtree, directory, True)
            self.directory = Path(directory)
            self.directory.mkdir(parents=True, exist_ok=True)
        self._generation = 0
        self._file = None
        self.vectors = self._alloc(0)
        self.slot_ids = np.full(0, -1, dtype=np.int64)
        self.starts = np.zeros(self.n_clusters, dtype=np.int64)
        self.counts = np.zeros(self.n_clusters, dtype=np.int64)
        self.caps = np.zeros(self.n_clusters, dtype=np.int64)
        self.end = 0
        self.holes = 0
        self._keys = np.empty(0, dtype=np.int64)
        self._rows = np.empty(0, dtype=np.int64)
        # name -> (P, rows) array riding along with the rows; columns: {name: (P, dtype)}
        self.columns = {name: np.zeros((int(p), 1), dtype=dt)
                        for name, (p, dt) in (columns or {}).items()}

    # ---- buffer management -------------------------------------------------------------------
    def _alloc(self, rows):
        """A new (rows, dim) float32 buffer; in disk mode a fresh memmap file replaces the old."""
        rows = max(int(rows), 1)
        if self.storage == "memory":
            return np.empty((rows, self.dim), dtype=np.float32)
        self._generation += 1
        path = self.directory / f"vectors-{os.getpid()}-{id(self)}-{self._generation}.f32"
        return np.memmap(path, dtype=np.float32, mode="w+", shape=(rows, self.dim))

    def _replace_buffer(self, new_vectors, new_ids):
        old = self.vectors
        self.vectors, self.slot_ids = new_vectors, new_ids
        if isinstance(old, np.memmap):
            name = old.filename
            del old
            if name and os.path.exists(name):
                os.remove(name)

    def _relayout(self, caps, headroom=0):
        """Lay every cluster out again in cluster order with the given capacities (no holes)."""
        caps = np.asarray(caps, dtype=np.int64)
        starts = np.cumsum(caps) - caps
        end = int(caps.sum())
        vec = self._alloc(end + headroom)
        ids = np.full(vec.shape[0], -1, dtype=np.int64)
        live = self.counts > 0
        copy_ranges(self.vectors, self.slot_ids, vec, ids, self.starts[live], starts[live],
                    self.counts[live])
        for name, cols in self.columns.items():
            new = column_like(cols, vec.shape[0])
            copy_column_ranges(cols, new, self.starts[live], starts[live], self.counts[live])
            self.columns[name] = new
        self._replace_buffer(vec, ids)
        self.starts, self.caps, self.end, self.holes = starts, caps, end, 0
        self._reindex_all()

    def _reindex_all(self):
        rows = concat_ranges(self.starts, self.counts)
        ids = self.slot_ids[rows]
        order = np.argsort(ids, kind="stable")
        self._keys, self._rows = ids[order], rows[order]

    def compact(self):
        """Tight layout in cluster order (no spare rows): the form that is saved."""
        self._relayout(self.counts.copy())

    # ---- construction ------------------------------------------------------------------------
    @classmethod
    def build(cls, X, labels, ids, n_clusters, storage="memory", directory=None, block=65536,
              columns=None):
        """Group rows of X by label (stable, so members keep their input order); columns:
        {name: (P, n) array}, column i riding with row i of X."""
        columns = columns or {}
        n = X.shape[0]
        for name, cols in columns.items():
            if cols.ndim != 2 or cols.shape[1] != n:
                raise ValueError(f"column {name!r}: expected shape (P, {n}), got {cols.shape}")
        store = cls(X.shape[1], n_clusters, storage, directory,
                    {name: (cols.shape[0], cols.dtype) for name, cols in columns.items()})
        labels = np.asarray(labels)
        order = np.argsort(labels, kind="stable")
        counts = np.bincount(labels, minlength=n_clusters).astype(np.int64)
        vec = store._alloc(n)
        for s in range(0, n, block):
            vec[s:s + block] = X[order[s:s + block]]
        for name, cols in columns.items():
            store.columns[name] = as_column(cols[:, order], like=cols)
        store._replace_buffer(vec, np.asarray(ids, dtype=np.int64)[order])
        store.counts = counts
        store.caps = counts.copy()
        store.starts = np.cumsum(counts) - counts
        store.end = n
        store._reindex_all()
        return store

    def set_columns(self, columns):
        """Replace the columns: {name: (P, rows of the buffer)} in the buffer's row order."""
        for name, cols in columns.items():
            if cols.ndim != 2 or cols.shape[1] != self.vectors.shape[0]:
                raise ValueError(f"column {name!r}: expected shape (P, {self.vectors.shape[0]}), "
                                 f"got {cols.shape}")
        self.columns = {name: as_column(cols) for name, cols in columns.items()}

    # ---- queries about the content -----------------------------------------------------------
    @property
    def size(self):
        """Number of stored vectors."""
        return int(self._keys.shape[0])

    def contains(self, ids):
        """Boolean mask: which of ids are stored."""
        ids = np.asarray(ids, dtype=np.int64)
        if self._keys.shape[0] == 0:
            return np.zeros(ids.shape[0], dtype=bool)
        pos = np.minimum(np.searchsorted(self._keys, ids), self._keys.shape[0] - 1)
        return self._keys[pos] == ids

    def rows_of(self, ids):
        """Buffer rows of ids; ValueError naming an unknown id."""
        ids = np.asarray(ids, dtype=np.int64)
        known = self.contains(ids)
        if not known.all():
            raise ValueError(f"unknown ids (not in the index), e.g. {int(ids[~known][0])}"
                             f" ({int((~known).sum())} of {ids.shape[0]})")
        return self._rows[np.searchsorted(self._keys, ids)]

    def clusters_of_rows(self, rows):
        """Cluster owning each buffer row (rows must be live)."""
        order = np.lexsort((self.caps, self.starts))
        idx = np.searchsorted(self.starts[order], rows, side="right") - 1
        return order[idx]

    def get(self, ids):
        """Copies of the stored vectors of ids (n, dim)."""
        return np.asarray(self.vectors[self.rows_of(ids)])

    def ids(self):
        """All stored ids (sorted)."""
        return self._keys.copy()

    def cluster_sums(self):
        """Per-cluster float64 sums of member vectors (k, dim)."""
        return sum_clusters(self.vectors, self.starts, self.counts)

    # ---- mutation ----------------------------------------------------------------------------
    def add(self, X, labels, ids, columns=None):
        """Append vectors X with ids to clusters labels; ids must be new (ValueError otherwise);
        columns: {name: (P, m)} for every column the store holds."""
        columns = columns or {}
        if set(columns) != set(self.columns):
            raise ValueError(f"add: columns {sorted(columns)} given, the store holds "
                             f"{sorted(self.columns)}")
        ids = np.asarray(ids, dtype=np.int64)
        present = self.contains(ids)
        if present.any():
            raise ValueError(f"ids already in the index, e.g. {int(ids[present][0])}"
                             f" ({int(present.sum())} of {ids.shape[0]}); use update()")
        labels = np.asarray(labels, dtype=np.int64)
        add_counts = np.bincount(labels, minlength=self.n_clusters).astype(np.int64)
        need = self.counts + add_counts
        over = need > self.caps
        if over.any():
            self._make_room(over, need)
        order = np.argsort(labels, kind="stable")
        lab = labels[order]
        rank = np.arange(lab.shape[0]) - np.searchsorted(lab, lab, side="left")
        dest = self.starts[lab] + self.counts[lab] + rank
        self.vectors[dest] = X[order]
        self.slot_ids[dest] = ids[order]
        for name, cols in columns.items():
            self.columns[name][:, dest] = cols[:, order]
        self.counts = need
        keys = np.concatenate([self._keys, ids[order]])
        rows = np.concatenate([self._rows, dest])
        o = np.argsort(keys, kind="stable")
        self._keys, self._rows = keys[o], rows[o]

    def _make_room(self, over, need):
        """Give overflowing clusters new capacity with slack, moving them or re-laying out."""
        new_caps = self.caps.copy()
        new_caps[over] = np.ceil(need[over] * GROWTH).astype(np.int64) + 4
        extra = int(new_caps[over].sum())
        freed = int(self.caps[over].sum())
        if self.end + extra > self.vectors.shape[0] or self.holes + freed > self.end // 2:
            total = int(new_caps.sum())
            self._relayout(new_caps, headroom=int(total * (GROWTH - 1)))
            return
        clusters = np.flatnonzero(over)
        dst = self.end + np.cumsum(new_caps[clusters]) - new_caps[clusters]
        src = self.starts[clusters]
        copy_ranges(self.vectors, self.slot_ids, self.vectors, self.slot_ids, src, dst,
                    self.counts[clusters])
        for cols in self.columns.values():
            copy_column_ranges(cols, cols, src, dst, self.counts[clusters])
        self.slot_ids[concat_ranges(src, self.counts[clusters])] = -1
        moved = concat_ranges(dst, self.counts[clusters])
        self._keys_set_rows(self.slot_ids[moved], moved)
        self.holes += freed
        self.starts[clusters] = dst
        self.caps[clusters] = new_caps[clusters]
        self.end += extra

    def _keys_set_rows(self, ids, rows):
        self._rows[np.searchsorted(self._keys, ids)] = rows

    def remove(self, ids):
        """Delete ids; returns (their clusters, copies of their vectors). Unknown ids raise."""
        ids = np.asarray(ids, dtype=np.int64)
        rows = self.rows_of(ids)
        clusters = self.clusters_of_rows(rows)
        removed = np.asarray(self.vectors[rows], dtype=np.float32)
        self.slot_ids[rows] = -1
        keep = np.ones(self._keys.shape[0], dtype=bool)
        keep[np.searchsorted(self._keys, ids)] = False
        self._keys, self._rows = self._keys[keep], self._rows[keep]
        touched = np.unique(clusters)
        src, dst = compact_clusters(self.vectors, self.slot_ids, self.starts, self.counts, touched)
        for cols in self.columns.values():
            move_columns(cols, src, dst)
        moved = concat_ranges(self.starts[touched], self.counts[touched])
        self._keys_set_rows(self.slot_ids[moved], moved)
        return clusters, removed

    # ---- accounting --------------------------------------------------------------------------
    def memory_bytes(self):
        """Bytes held: vectors (on disk or in RAM), ids and id map, cluster layout arrays, the
        columns (codes; always in RAM)."""
        vec = int(self.vectors.shape[0]) * self.dim * 4
        ids = int(self.slot_ids.nbytes + self._keys.nbytes + self._rows.nbytes)
        layout = int(self.starts.nbytes + self.counts.nbytes + self.caps.nbytes)
        codes = int(sum(cols.nbytes for cols in self.columns.values()))
        on_disk = self.storage == "disk"
        return {"vectors": vec, "ids": ids, "layout": layout, "codes": codes,
                "vectors_on_disk": vec if on_disk else 0,
                "ram": ids + layout + codes + (0 if on_disk else vec)}
