"""Cluster index (IVF): k-means partition, an HNSW over the centres, a scan of C clusters.

Query, one numba call (``scan.search_query_coded`` / ``scan.search_query``): the centroid HNSW
(``centroid_graph``) returns C*rerank candidate clusters (in the routing space: the original
space, or the space of an optional ``transform`` such as ANNANN's encoder); they are re-ranked by
exact distance to the original-space centroids (means of their members), and the C nearest
non-empty ones are scanned, keeping a top-k heap. route="exact" ranks every centre instead of
walking the HNSW (for routing spaces an HNSW walks badly, such as Neural LSH's logit centres).

The scan: with quantizer="rabitq" (what the default "auto" picks for rows of at least
``core.rabitq.CODED_MIN_DIM`` dimensions) each member carries a RaBitQ code (``core.rabitq``, one
bit per rotated coordinate plus three factors, in RAM beside the rows) coded against its
cluster's centre as it was when the cluster was made (the code centre stays fixed while inserts
and deletes move the centroid, so no stored code goes stale); the scan estimates every member's
distance from its code and reads the full row only where the estimate's lower bound beats the
k-th best so far. With the rows on disk (storage="disk"), only those rows are read from the
memmap. quantizer="none" reads every member row (exact scan).

Angular data is stored unit-normalised and searched by squared L2 (monotone in cosine); reported
distances follow ann-benchmarks (L2, or 1 - cosine). A transform is applied to the caller's raw
vectors (not to the normalised copies).
"""

import time

import numpy as np
from tqdm.auto import tqdm

from ..core.distances import check_metric, normalize_rows, to_metric
from ..core.index_format import IndexFormatError, IndexWriter, read_index
from ..core.memory import release_free_memory
from ..core.rabitq import (EPSILON, FACTORS, check_quantizer, code_words, encode_against,
                           resolve_quantizer)
from ..core.rotation import Rotation
from ..core.stats import SearchCounters
from ..core.trees import StopModel, empty_trees
from ..core.validation import (NotFittedError, as_float_matrix, as_ids, as_query_vector, check_k,
                               check_positive_int)
from .centroid_graph import CentroidGraph
from .kmeans import REFINE_ITERS, assign_nearest, fit_centers, group_sums, resolve_n_clusters
from .scan import N_FEATURES, search_one_coded, search_queries, search_queries_coded, \
    search_query

EMPTY_TREES = empty_trees()
from .store import STORAGE_MODES, ClusterStore


ROUTES = ("hnsw", "exact")


class ClusterIndex:
    """IVF index with an HNSW coarse quantiser; dynamic (add/remove/update) and persistent."""

    def __init__(self, metric="euclidean", n_clusters=1024, rerank=10, M=16, ef_construction=200,
                 storage="memory", storage_path=None, kmeans_sample=None, seed=0, progress=False,
                 kmeans_iters=REFINE_ITERS, route="hnsw", quantizer="auto"):
        self.metric = check_metric(metric)
        resolve_n_clusters(n_clusters, 1)  # type/positivity check; resolved against n in fit
        self.n_clusters = n_clusters
        self.rerank = check_positive_int(rerank, "rerank")
        self.M = check_positive_int(M, "M", minimum=2)
        self.ef_construction = check_positive_int(ef_construction, "ef_construction")
        if storage not in STORAGE_MODES:
            raise ValueError(f"storage: expected one of {STORAGE_MODES}, got {storage!r}")
        self.storage, self.storage_path = storage, storage_path
        self.kmeans_sample = (None if kmeans_sample is None
                              else check_positive_int(kmeans_sample, "kmeans_sample"))
        self.seed = check_positive_int(seed, "seed", minimum=0)
        self.kmeans_iters = check_positive_int(kmeans_iters, "kmeans_iters", minimum=0)
        if route not in ROUTES:
            raise ValueError(f"route: expected one of {ROUTES}, got {route!r}")
        self.route = route
        self.quantizer = check_quantizer(quantizer)
        self.quantizer_ = None  # "rabitq" or "none", resolved against the dimension by fit
        self.progress = bool(progress)
        self.n_clusters_ = None
        self.dim = None
        self.embed_dim = None
        self.transform = None
        self.last_stats = {}
        self.counters = SearchCounters()
        self._store = None
        self._args_cache = None

    # ---- spaces ------------------------------------------------------------------------------
    def _internal(self, X):
        return normalize_rows(X) if self.metric == "angular" else X

    def _route(self, X, V):
        """Routing-space rows for raw rows X (internal copies V): transform(X), or V itself."""
        if self.transform is None:
            return V
        Z = as_float_matrix(self.transform(X), name="transform output", dim=self.embed_dim)
        if Z.shape[0] != X.shape[0]:
            raise ValueError(f"transform output: {Z.shape[0]} rows for {X.shape[0]} inputs")
        return Z

    def _require_fit(self):
        if self._store is None:
            raise NotFittedError("ClusterIndex: call fit() (or load()) first")

    @property
    def size(self):
        """Number of vectors in the index (0 before fit)."""
        return 0 if self._store is None else self._store.size

    # ---- build -------------------------------------------------------------------------------
    def fit(self, X, ids=None, transform=None, centers=None, labels=None):
        """Cluster X (see the module docstring); ids default to arange(n). centers (routing
        space) replace k-means; labels (n,) in [0, len(centers)) put the rows in given clusters
        instead of their nearest centres. Returns self."""
        X = as_float_matrix(X, name="X")
        n, d = X.shape
        ids = np.arange(n, dtype=np.int64) if ids is None else as_ids(ids, n)
        if transform is not None and not callable(transform):
            raise ValueError(f"transform: expected a callable, got {type(transform).__name__}")
        self.transform, self.dim, self.embed_dim = transform, d, None
        self.quantizer_ = resolve_quantizer(self.quantizer, d)
        steps = tqdm(total=4, desc="cluster index", disable=not self.progress)
        V = self._internal(X)
        Z = self._route(X, V)
        self.embed_dim = Z.shape[1]
        if centers is not None:
            centers = as_float_matrix(centers, name="centers", dim=self.embed_dim)
        else:
            k = resolve_n_clusters(self.n_clusters, n)
            centers = fit_centers(Z, k, seed=self.seed, sample=self.kmeans_sample,
                                  refine_iters=self.kmeans_iters)
        steps.update()
        if labels is None:
            labels, _ = assign_nearest(Z, centers, progress=self.progress)
        else:
            labels = np.asarray(labels)
            if labels.shape != (n,) or labels.min() < 0 or labels.max() >= centers.shape[0]:
                raise ValueError(f"labels: expected {n} cluster numbers in "
                                 f"[0, {centers.shape[0]})")
        steps.update()
        self.n_clusters_ = centers.shape[0]
        self._store = ClusterStore.build(V, labels, ids, self.n_clusters_, self.storage,
                                         self.storage_path)
        steps.update()
        self._routing = centers
        self._graph = CentroidGraph(centers, self.M, self.ef_construction, self.seed,
                                    exact=self.route == "exact")
        self.refresh_centroids()
        self._encode_store()
        steps.update()
        steps.close()
        release_free_memory()  # the build's freed scratch is not part of the index
        return self

    # ---- codes -------------------------------------------------------------------------------
    @property
    def coded(self):
        """Whether the scan reads codes (quantizer "rabitq", or "auto" resolved to it by fit)."""
        return self.quantizer_ == "rabitq"

    def _encode_store(self):
        """Codes of every stored row against its cluster's centroid, which becomes the cluster's
        fixed code centre."""
        if not self.coded:
            return
        self._rotation = Rotation(self.dim, seed=self.seed)
        self._q_rot = np.empty(self._rotation.padded, dtype=np.float32)
        self._features = np.zeros(N_FEATURES, dtype=np.float32)
        self._code_centres = self._rotation.rows(self._centroids)
        s = self._store
        s.compact()
        labels = np.repeat(np.arange(self.n_clusters_), s.counts)
        codes = np.zeros((code_words(self._rotation.padded), s.vectors.shape[0]), np.uint64)
        factors = np.zeros((FACTORS, s.vectors.shape[0]), np.float32)
        for a in range(0, s.size, 65536):
            b = min(a + 65536, s.size)
            c, f = self._codes_of(np.asarray(s.vectors[a:b]), labels[a:b])
            codes[:, a:b], factors[:, a:b] = c, f
        s.set_columns({"codes": codes, "factors": factors})
        self._changed()

    def _codes_of(self, V, labels):
        """(codes, factors) of internal rows V stored in clusters labels, the clusters' code
        centres folded in (``core.rabitq.encode_against``)."""
        centres = self._code_centres[labels]
        return encode_against(self._rotation.rows(V) - centres, centres)

    def _columns_of(self, V, labels):
        if not self.coded:
            return None
        codes, factors = self._codes_of(V, labels)
        return {"codes": codes, "factors": factors}

    @property
    def _largest(self):
        """Members of the largest cluster (scratch size of the scan), kept until the clusters
        change (a numpy max on every query measured as a visible cost: docs/design-notes.md)."""
        version = (id(self._store.counts), self._store.size)
        if getattr(self, "_largest_at", None) != version:
            self._largest_at = version
            self._largest_value = int(self._store.counts.max(initial=0))
        return self._largest_value

    def refresh_centroids(self):
        """Recompute the original-space centroids exactly as member means (empty -> zeros)."""
        counts = self._store.counts
        sums = self._store.cluster_sums()
        self._centroids = (sums / np.maximum(counts, 1)[:, None]).astype(np.float32)
        self._changed()

    # ---- search ------------------------------------------------------------------------------
    def _record(self, m, scanned, exact, comps, clusters):
        """``last_stats`` and the counters after m queries: vectors scanned (codes or rows), exact
        distances, distance computations in all (with the centroids'), clusters scanned."""
        self.last_stats = {"scanned": int(scanned), "exact": int(exact),
                           "dist_comps": int(exact + comps), "clusters": int(clusters)}
        self.counters.add(m, exact + comps, scanned)

    def _candidates(self, C):
        C = check_positive_int(C, "C")
        C = min(C, self.n_clusters_)
        return C, min(C * self.rerank, self.n_clusters_)


    def _margin(self, margin):
        if margin is None:
            return np.float32(EPSILON)
        if isinstance(margin, bool) or not isinstance(margin, (int, float, np.integer,
                                                               np.floating)) \
                or np.isnan(margin) or margin < 0:
            raise ValueError(f"margin: expected a number >= 0 (inf: read every row), got "
                             f"{margin!r}")
        return np.float32(margin)

    def _coded_args(self):
        s = self._store
        return (s.columns["codes"], s.columns["factors"], self._code_centres,
                self._rotation.signs, self._rotation.block)

    # ---- learned termination -----------------------------------------------------------------
    def set_stop_model(self, model):
        """Attach a learned termination model (``core.trees.StopModel``, trained by
        ``learned.termination.fit_stop_model``; None removes it): search(..., target_recall=R)
        then scans, per query, as many of its C clusters as the model predicts that query needs
        for recall R."""
        if model is not None and not self.coded:
            raise ValueError("learned termination needs the coded scan (quantizer='rabitq')")
        self._stop = model

    @property
    def stop_model(self):
        """The attached termination model, or None."""
        return getattr(self, "_stop", None)

    def _stop_args(self, target_recall):
        """(first, trees, base, shift) of the termination model for a target recall, or the
        arguments that switch it off."""
        if target_recall is None:
            return 1, EMPTY_TREES, np.float32(0.0), np.float32(0.0)
        if self.stop_model is None:
            raise ValueError("target_recall: this index has no learned termination model "
                             "(annann.learned.termination.fit_stop_model)")
        m = self.stop_model
        return m.first, m.trees, np.float32(m.base), np.float32(m.shift(target_recall))

    def _static_args(self):
        """The kernel's arguments that stay put between queries, around the query (store
        arrays, codes, centres, rotation) and after it (the centroid graph, scratch): gathered
        once and kept until the index changes (``_changed``), since building them costs a few
        microseconds of a query that takes tens."""
        if self._args_cache is None:
            s, g = self._store, self._graph
            before = (s.vectors, s.slot_ids, s.starts, s.counts, self._largest, self._centroids,
                      *self._coded_args())
            after = (*g.walk_args(), self._q_rot, self.metric == "angular")
            self._args_cache = (before, after)
        return self._args_cache

    def _changed(self):
        """Forget what was gathered from the index's arrays (after fit, add, remove, load)."""
        self._args_cache = None

    def search(self, q, k, C=10, margin=None, target_recall=None):
        """(ids int64 (<=k,), distances float32) of the k nearest among the C scanned clusters.

        target_recall (needs a termination model, ``set_stop_model``): scan only as many of the
        C clusters as the model predicts this query needs for that recall@k (C is then the
        cap).

        margin (coded scan only; default RaBitQ's 1.9): a member's row is read when its estimated
        distance minus margin times the estimate's error bound beats the k-th best so far; 0
        trusts the estimates most (fewest rows read), larger values read more rows and miss
        fewer neighbours; inf reads every member (the exact scan's answers)."""
        self._require_fit()
        k = check_k(k, self.size)
        C, n_cand = self._candidates(C)
        margin = self._margin(margin)
        coded_plain = self.coded and self.transform is None and self.metric != "angular"
        q = as_query_vector(q, self.dim, finite=not coded_plain)  # else the kernel checks
        v = normalize_rows(q[None, :])[0] if self.metric == "angular" else q
        z = v if self.transform is None else self._route(q[None, :], v[None, :])[0]
        out_i = np.empty(k, dtype=np.int64)
        out_d = np.empty(k, dtype=np.float32)
        s, g = self._store, self._graph
        if self.coded:
            before, after = self._static_args()
            found, scanned, exact, comps, used = search_one_coded(
                *before, z, v, C, k, margin, self.rerank, *self._stop_args(target_recall),
                self._features, *after, out_i, out_d)
            if found < 0:
                as_query_vector(q, self.dim)  # raises, naming the problem
            self._record(1, scanned, exact, comps, used)
            return out_i[:found], out_d[:found]
        else:
            if target_recall is not None:
                self._stop_args(target_recall)  # raises: no model on the exact scan
            found, scanned, comps = search_query(
                s.vectors, s.slot_ids, s.starts, s.counts, self._centroids, z, v, C, k,
                *g.args(n_cand), out_i, out_d)
            exact, used = scanned, C
        self._record(1, scanned, exact, comps, used)
        return out_i[:found], to_metric(out_d[:found], self.metric)

    def search_batch(self, Q, k, C=10, margin=None, target_recall=None, exclude=None):
        """(ids (m, k) int64 padded -1, distances (m, k) float32 padded inf) for every row of Q;
        exclude (m,) ids: query t never answers id exclude[t] (its own row, when the queries are
        rows of the index: training learned termination)."""
        self._require_fit()
        k = check_k(k, self.size)
        C, n_cand = self._candidates(C)
        margin = self._margin(margin)
        Q = as_float_matrix(Q, name="queries", dim=self.dim)
        V = self._internal(Q)
        Z = np.ascontiguousarray(self._route(Q, V))
        out_i = np.empty((Q.shape[0], k), dtype=np.int64)
        out_d = np.empty((Q.shape[0], k), dtype=np.float32)
        s, g = self._store, self._graph
        self.last_features = np.zeros((Q.shape[0], N_FEATURES), dtype=np.float32)
        if self.coded:
            first, trees, base, shift = self._stop_args(target_recall)
            excl = (np.full(Q.shape[0], -1, np.int64) if exclude is None
                    else np.asarray(exclude, dtype=np.int64))
            if excl.shape != (Q.shape[0],):
                raise ValueError(f"exclude: expected {Q.shape[0]} ids, got shape {excl.shape}")
            scanned, exact, comps, clusters = search_queries_coded(
                s.vectors, s.slot_ids, s.starts, s.counts, self._largest, self._centroids,
                *self._coded_args(), Z, V, C, k, margin, self.rerank, first, trees, base, shift,
                excl, self.last_features, *g.walk_args(), self._q_rot, out_i, out_d)
        else:
            if target_recall is not None or exclude is not None:
                self._stop_args(target_recall)
                if exclude is not None:
                    raise ValueError("exclude: supported by the coded scan only")
            scanned, comps = search_queries(
                s.vectors, s.slot_ids, s.starts, s.counts, self._centroids, Z, V, C, k,
                *g.args(n_cand), out_i, out_d)
            exact, clusters = scanned, int(C) * Q.shape[0]
        self._record(Q.shape[0], scanned, exact, comps, clusters)
        dist = np.where(out_i >= 0, to_metric(np.where(out_i >= 0, out_d, 0), self.metric), np.inf)
        return out_i, dist.astype(np.float32)

    # ---- dynamic updates ---------------------------------------------------------------------
    def _shift_centroids(self, V, labels, sign):
        """Incremental mean update after adding (sign=+1) or removing (sign=-1) rows V."""
        sums, n = group_sums(V, labels, self.n_clusters_)
        touched = n > 0
        new = self._store.counts[touched]
        old = new - sign * n[touched]
        total = self._centroids[touched].astype(np.float64) * old[:, None] + sign * sums[touched]
        self._centroids[touched] = (total / np.maximum(new, 1)[:, None]).astype(np.float32)
        self._centroids[touched & (self._store.counts == 0)] = 0.0

    def add(self, X, ids):
        """Insert vectors with new ids into their nearest clusters (no rebuild)."""
        self._require_fit()
        X = as_float_matrix(X, name="X", dim=self.dim)
        ids = as_ids(ids, X.shape[0])
        V = self._internal(X)
        labels, _ = assign_nearest(self._route(X, V), self._routing)
        self._store.add(V, labels, ids, self._columns_of(V, labels))
        self._shift_centroids(V, labels.astype(np.int64), +1)
        self._changed()

    def remove(self, ids):
        """Delete ids (unknown ids raise before anything changes)."""
        self._require_fit()
        ids = as_ids(ids)
        if ids.shape[0] == 0:
            return
        clusters, removed = self._store.remove(ids)
        self._shift_centroids(removed, clusters.astype(np.int64), -1)
        self._changed()

    def update(self, X, ids):
        """Replace the vectors of existing ids (validated fully before any change)."""
        self._require_fit()
        X = as_float_matrix(X, name="X", dim=self.dim)
        ids = as_ids(ids, X.shape[0])
        self._store.rows_of(ids)
        V = self._internal(X)
        labels, _ = assign_nearest(self._route(X, V), self._routing)
        clusters, removed = self._store.remove(ids)
        self._shift_centroids(removed, clusters.astype(np.int64), -1)
        self._store.add(V, labels, ids, self._columns_of(V, labels))
        self._shift_centroids(V, labels.astype(np.int64), +1)
        self._changed()

    # ---- introspection -----------------------------------------------------------------------
    def labels_of(self, ids):
        """The cluster holding each of ids (ValueError naming an unknown id)."""
        self._require_fit()
        return self._store.clusters_of_rows(self._store.rows_of(np.asarray(ids, np.int64)))

    def cluster_sizes(self):
        """Number of vectors in each cluster (a copy)."""
        self._require_fit()
        return self._store.counts.copy()

    def imbalance(self):
        """Cluster size balance: max/mean, coefficient of variation, empty clusters."""
        sizes = self.cluster_sizes().astype(np.float64)
        mean = sizes.mean()
        return {"n_clusters": int(sizes.shape[0]), "mean": float(mean), "max": int(sizes.max()),
                "min": int(sizes.min()), "empty": int((sizes == 0).sum()),
                "max_over_mean": float(sizes.max() / mean) if mean else float("inf"),
                "cv": float(sizes.std() / mean) if mean else float("inf")}

    def memory_bytes(self):
        """Bytes held by the index: vectors, ids, layout, codes (RaBitQ codes and factors),
        centroids (with the code centres), the centroid HNSW ("hnsw"); total, RAM and disk."""
        self._require_fit()
        out = self._store.memory_bytes()
        out["centroids"] = int(self._centroids.nbytes + self._routing.nbytes)
        if self.coded:
            out["centroids"] += int(self._code_centres.nbytes + self._rotation.signs.nbytes)
        out["hnsw"] = int(self._graph.nbytes())
        out["total"] = (out["vectors"] + out["ids"] + out["layout"] + out["codes"]
                        + out["centroids"] + out["hnsw"])
        out["ram"] = out["total"] - out["vectors_on_disk"]
        out["disk"] = out["vectors_on_disk"]
        return out

    # ---- persistence -------------------------------------------------------------------------
    def _params(self):
        return {"metric": self.metric, "n_clusters": self.n_clusters, "rerank": self.rerank,
                "M": self.M, "ef_construction": self.ef_construction, "storage": self.storage,
                "kmeans_sample": self.kmeans_sample, "seed": self.seed,
                "kmeans_iters": self.kmeans_iters, "route": self.route,
                "quantizer": self.quantizer_ or self.quantizer}

    def save(self, path):
        """Save the index to directory ``path`` atomically (the transform is not saved)."""
        self._require_fit()
        with IndexWriter(path, "ClusterIndex", self._params()) as w:
            self._write_parts(w, "")

    def _write_parts(self, w, prefix):
        """Arrays, graph file and state of the index into an open IndexWriter (names prefixed)."""
        s = self._store
        s.compact()
        self._changed()
        n = s.size
        w.state[prefix + "shape"] = {"size": n, "dim": self.dim, "embed_dim": self.embed_dim,
                                     "n_clusters": self.n_clusters_,
                                     "has_transform": self.transform is not None}
        for name, arr in (("vectors", s.vectors[:n]), ("ids", s.slot_ids[:n]),
                          ("counts", s.counts), ("routing", self._routing),
                          ("centroids", self._centroids)):
            w.add_array(prefix + name, arr)
        arrays, scalars = self._graph.state()
        for name, arr in arrays.items():
            w.add_array(prefix + "graph." + name, arr)
        w.state[prefix + "graph"] = scalars
        if self.coded:
            for name in ("codes", "factors"):
                w.add_array(prefix + name, s.columns[name][:, :n])
            w.add_array(prefix + "code_centres", self._code_centres)
            w.add_array(prefix + "rotation.signs", self._rotation.signs)
        if self.stop_model is not None:
            arrays, scalars = self.stop_model.state()
            for name, arr in arrays.items():
                w.add_array(prefix + "stop." + name, arr)
            w.state[prefix + "stop"] = scalars

    @classmethod
    def load(cls, path, transform=None, storage=None, storage_path=None):
        """Load a saved index; IndexFormatError (a ValueError) for a foreign, old, corrupt or
        mismatched directory."""
        stored = read_index(path, "ClusterIndex")
        return cls._from_parts(stored, "", stored.params, transform, storage, storage_path)

    @classmethod
    def _from_parts(cls, stored, prefix, params, transform, storage, storage_path):
        """The index whose parts _write_parts stored under prefix."""
        where = stored.path
        try:
            params = dict(params)
            params.setdefault("quantizer", "none")  # written before the codes: an exact scan
            idx = cls(**dict(params, storage=storage or params["storage"],
                             storage_path=storage_path))
            shape = stored.state[prefix + "shape"]
            n, d, e, k = (int(shape[key]) for key in ("size", "dim", "embed_dim", "n_clusters"))
            has_transform = bool(shape["has_transform"])
        except (KeyError, TypeError, ValueError) as exc:
            raise IndexFormatError(f"{where}: cluster index metadata incomplete or malformed "
                                   f"({exc})") from exc
        if has_transform and transform is None:
            raise ValueError(f"{where}: index was built with a transform; pass transform=")
        if not has_transform and transform is not None:
            raise ValueError(f"{where}: index was built without a transform; do not pass one")
        vectors = stored.array(prefix + "vectors", (n, d), np.float32, mmap=True)
        counts = stored.array(prefix + "counts", (k,), np.int64)
        if counts.min(initial=0) < 0 or int(counts.sum()) != n:
            raise IndexFormatError(f"{where}: cluster counts do not add up to {n} vectors")
        ids = as_ids(stored.array(prefix + "ids", (n,), np.int64), n, name=f"{where}: ids")
        idx.dim, idx.embed_dim, idx.n_clusters_, idx.transform = d, e, k, transform
        idx.quantizer_ = resolve_quantizer(idx.quantizer, d)
        if transform is not None:
            idx._route(np.asarray(vectors[:1]), None)  # dimension check
        labels = np.repeat(np.arange(k), counts)
        columns = None
        if idx.coded:
            try:
                idx._rotation = Rotation.from_state(d, idx.seed, stored.arrays(prefix + "rotation."))
            except (KeyError, ValueError) as exc:
                raise IndexFormatError(f"{where}: rotation unreadable ({exc})") from exc
            p = idx._rotation.padded
            idx._q_rot = np.empty(p, dtype=np.float32)
            idx._features = np.zeros(N_FEATURES, dtype=np.float32)
            columns = {"codes": stored.array(prefix + "codes", (p // 64, n), np.uint64),
                       "factors": stored.array(prefix + "factors", (FACTORS, n), np.float32)}
            idx._code_centres = stored.array(prefix + "code_centres", (k, p), np.float32)
        idx._store = ClusterStore.build(vectors, labels, ids, k, idx.storage, storage_path,
                                        columns=columns)
        idx._routing = stored.array(prefix + "routing", (k, e), np.float32)
        idx._centroids = stored.array(prefix + "centroids", (k, d), np.float32)
        try:
            idx._graph = CentroidGraph.from_state(idx._routing, stored.arrays(prefix + "graph."),
                                                  stored.state[prefix + "graph"])
        except (KeyError, ValueError) as exc:
            raise IndexFormatError(f"{where}: centroid graph unreadable ({exc})") from exc
        if prefix + "stop" in stored.state:
            try:
                idx._stop = StopModel.from_state(stored.arrays(prefix + "stop."),
                                                 stored.state[prefix + "stop"])
            except (KeyError, ValueError) as exc:
                raise IndexFormatError(f"{where}: termination model unreadable ({exc})") from exc
        return idx


WARM_UP_ROWS = 2048
_warm = set()


def warm_once(done, metric, run):
    """Call run(X, metric) on a small synthetic set (WARM_UP_ROWS rows to fit, four more to
    query) once per process and metric (``done``: the caller's set of metrics already warmed),
    so that numba compiles the kernels it runs (or loads them from its cache) and sklearn/BLAS
    start up now, not inside a timed fit: ann-benchmarks counts fit's time and memory growth as
    the index's. Returns the seconds it took (0.0 when already done). Every engine's warm_up
    goes through here."""
    metric = check_metric(metric)
    if metric in done:
        return 0.0
    from ..data.synthetic import gaussian_clusters

    t0 = time.perf_counter()
    run(gaussian_clusters(WARM_UP_ROWS + 4, 16, seed=0), metric)
    done.add(metric)
    return time.perf_counter() - t0


def warm_up(metric="euclidean"):
    """Fit a small synthetic ClusterIndex and search it (single and batch), both quantizers
    ("auto" picks by the data's dimension, unknown here), through ``warm_once``."""

    def run(X, metric):
        for quantizer in ("rabitq", "none"):
            index = ClusterIndex(metric, n_clusters=32, rerank=2, quantizer=quantizer)
            index.fit(X[:WARM_UP_ROWS])
            index.search(X[-1], 5, C=2)
            index.search_batch(X[-4:], 5, C=2)

    return warm_once(_warm, metric, run)


__all__ = ["ClusterIndex", "warm_up", "warm_once"]
