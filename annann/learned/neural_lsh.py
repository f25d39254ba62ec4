"""Neural LSH (Dong, Indyk, Razenshteyn, Wagner, ICLR 2020) on the cluster engine.

fit: the K-NN graph of the data (our NN-descent from the LSH start) is cut into n_parts balanced
parts by KaHIP or METIS (``partition``), a Keras MLP learns to send a vector to its
neighbourhood's parts (``router``, trained in a child process), and the ClusterIndex holds one
cluster per part. A query is scanned in the router's top-C parts (multi-probe).

The router's logits become the engine's routing distances: with h the last hidden layer and
u_j = [w_j, b_j] the logit layer's column j, the routing centre is c_j = [u_j, sqrt(R^2 - |u_j|^2)]
(R = max |u_j|) and the routed query [h, 1, 0], so |q - c_j|^2 = |h|^2 + 1 + R^2 - 2 logit_j: the
nearest centres are the highest logits. The engine ranks every centre (route="exact"): its HNSW
walk over these centres missed too many of the top-C parts (docs/design-notes.md). Rows live in
the part the router predicts (assign="router", the default: queries and data are routed alike) or
in their graph part (assign="partition"); inserts always go where the router sends them.
"""

import time
from dataclasses import asdict

import numpy as np

from ..core.distances import check_metric, normalize_rows
from ..core.validation import as_float_matrix, check_positive_int
from ..graph.index import KNNGraphIndex
from ..graph.index import warm_up as warm_up_graph
from ..ivf.index import ClusterIndex
from ..ivf.index import warm_up as warm_up_ivf
from ..ivf.kmeans import resolve_n_clusters
from .index import AnnannIndex, make_config
from .partition import check_partitioner, cut_fraction, partition_graph, symmetric_csr
from .router import RouterConfig, train_router

ASSIGN = ("router", "partition")


def logit_centres(W, b):
    """Routing centres (m, h+2) whose squared distance to [h, 1, 0] falls as the logit rises."""
    U = np.concatenate([W.T, b[:, None]], axis=1).astype(np.float64)
    sq = (U * U).sum(axis=1)
    pad = np.sqrt(np.maximum(sq.max() - sq, 0.0))
    return np.ascontiguousarray(np.concatenate([U, pad[:, None]], axis=1), dtype=np.float32)


class NeuralLshIndex(AnnannIndex):
    """Graph partition + neural router over the cluster engine (see the module docstring).

    n_parts: int, or a float multiple of sqrt(n); n_neighbors: K of the partitioned graph;
    partitioner "metis" (the default: a lower cut than KaHIP fast, and sooner, see
    docs/design-notes.md) or
    "kahip" (kahip_mode fast / eco / strong); imbalance: the largest part
    is at most (1 + imbalance) x the mean; router: RouterConfig fields.
    """

    KIND = "NeuralLshIndex"

    def __init__(self, metric="euclidean", n_parts=1.0, n_neighbors=10, partitioner="metis",
                 kahip_mode="fast", imbalance=0.03, assign="router", M=16, ef_construction=200,
                 storage="memory", storage_path=None, seed=0, progress=False, router=None):
        self.metric = check_metric(metric)
        resolve_n_clusters(n_parts, 1)
        self.n_parts = n_parts
        self.n_neighbors = check_positive_int(n_neighbors, "n_neighbors")
        check_partitioner(partitioner, kahip_mode, imbalance)
        if assign not in ASSIGN:
            raise ValueError(f"assign: expected one of {ASSIGN}, got {assign!r}")
        self.partitioner, self.kahip_mode = partitioner, kahip_mode
        self.part_imbalance, self.assign = float(imbalance), assign
        self.seed, self.progress = check_positive_int(seed, "seed", minimum=0), bool(progress)
        self.config = make_config(router, RouterConfig, "router", "router").validate()
        self.config.seed = self.seed
        self.config.progress = self.progress
        self.engine_args = dict(metric=metric, n_clusters=n_parts, rerank=1, M=M,
                                ef_construction=ef_construction, storage=storage,
                                storage_path=storage_path, seed=seed, progress=progress,
                                route="exact")
        ClusterIndex(**self.engine_args)
        self.encoder = None
        self.index = None
        self.train_log = {}

    def _encode(self, X):
        """[h, 1, 0] for the router's last hidden layer h (see logit_centres)."""
        H = self.encoder.transform(X)
        out = np.zeros((H.shape[0], H.shape[1] + 2), dtype=np.float32)
        out[:, :-2] = H
        out[:, -2] = 1.0
        return out

    def _settings(self):
        return {"neural_lsh": {"n_parts": self.n_parts, "n_neighbors": self.n_neighbors,
                               "partitioner": self.partitioner, "kahip_mode": self.kahip_mode,
                               "imbalance": self.part_imbalance, "assign": self.assign,
                               "seed": self.seed},
                "router": asdict(self.config)}

    def _restore(self, params):
        nl = params["neural_lsh"]
        self.n_parts, self.n_neighbors, self.seed = nl["n_parts"], nl["n_neighbors"], nl["seed"]
        self.partitioner, self.kahip_mode = nl["partitioner"], nl["kahip_mode"]
        self.part_imbalance, self.assign = nl["imbalance"], nl["assign"]
        self.config = make_config(params["router"], RouterConfig, "router", "router").validate()
        self.progress = False

    def fit(self, X, ids=None):
        """K-NN graph, balanced partition, router, then the cluster engine; returns self."""
        X = as_float_matrix(X, name="X")
        n = X.shape[0]
        m = resolve_n_clusters(self.n_parts, n)  # clamped to [1, n]
        if self.n_neighbors >= n:
            raise ValueError(f"n_neighbors={self.n_neighbors} must be smaller than the number of "
                             f"points ({n})")
        log = {"n_parts": m, "seconds": {}}
        t = time.perf_counter()
        graph = KNNGraphIndex(self.metric, n_neighbors=self.n_neighbors, seed=self.seed,
                              progress=self.progress).fit(X)
        knn = graph.neighbor_graph[0]
        del graph
        log["seconds"]["knn_graph"] = time.perf_counter() - t
        t = time.perf_counter()
        xadj, adjncy = symmetric_csr(knn)
        parts = partition_graph(xadj, adjncy, m, self.partitioner, self.part_imbalance, self.seed,
                                self.kahip_mode)
        log["seconds"]["partition"] = time.perf_counter() - t
        log["cut_fraction"] = cut_fraction(xadj, adjncy, parts)
        del xadj, adjncy
        T = normalize_rows(X) if self.metric == "angular" else X
        router = train_router(T, parts, knn, m, self.config)
        log["router"] = router.log
        self.encoder = router.hidden
        t = time.perf_counter()
        labels = parts if self.assign == "partition" else None
        self.index = ClusterIndex(**self.engine_args).fit(
            X, ids=ids, transform=self._transform, centers=logit_centres(router.W, router.b),
            labels=labels)
        log["seconds"]["engine"] = time.perf_counter() - t
        sample = np.random.default_rng(self.seed).choice(n, min(n, 20000), replace=False)
        log["router_agrees_with_partition"] = float((router.predict(T[sample]) == parts[sample])
                                                    .mean())
        self.train_log = log
        return self


def warm_up(metric="euclidean", n_neighbors=10):
    """Compile (or load from numba's cache) the kernels a NeuralLshIndex fit and search run: the
    K-NN graph's, the partition's and the cluster engine's, so that none compiles inside a timed
    fit. Returns the seconds it took."""
    t0 = time.perf_counter()
    warm_up_graph(metric, n_neighbors=n_neighbors)
    warm_up_ivf(metric)
    symmetric_csr(np.array([[1], [0]]))
    return time.perf_counter() - t0


__all__ = ["NeuralLshIndex", "logit_centres", "warm_up", "ASSIGN"]
