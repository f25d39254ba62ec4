"""Adapter: ANNANN, the cluster engine in a learned space.

Thin layer over annann.learned: AnnannIndex (autoencoder + DEC / k-NN term) or, with
``space: graph-partition``, NeuralLshIndex (K-NN graph partition + neural router), or, with
``space: learned-stop``, LearnedStopIndex (the raw-space cluster engine with learned adaptive
termination), or, with ``space: learned-scores``, LearnedScoreIndex (k-means clusters scanned by
learned low-rank per-cluster scores, LoRANN-style). Build parameters (one dict): n_clusters (int, or a float multiple of sqrt(n)),
seed, M; the autoencoder's code_dim, dec, gamma, knn_weight (0 = k-NN term off), rerank,
train_sample, epochs, hidden; Neural LSH's graph_k, partitioner, imbalance, assign,
router_hidden, router_epochs, router_sample; learned termination's stop_queries, stop_cap; learned
scores' rank, global_dim, train_size, train_queries, route. Query arguments: C, the number of
clusters scanned (learned-stop: the most), then for learned-stop the target recall the model
predicts each query's cluster count for, for learned-scores the rows re-ranked exactly
(candidates) and the margin of the re-rank's stop.
"""

import numpy as np

from annann.ivf.index import warm_up
from annann.learned.index import AnnannIndex
from annann.learned.neural_lsh import NeuralLshIndex
from annann.learned.neural_lsh import warm_up as warm_up_nlsh
from annann.learned.scores import LearnedScoreIndex
from annann.learned.scores import warm_up as warm_up_scores
from annann.learned.termination import LearnedStopIndex
from annann.learned.termination import warm_up as warm_up_stop
from annann.core.validation import as_float_matrix

from ..base.module import BaseANN

TRAIN_KEYS = ("code_dim", "dec", "gamma", "knn_weight", "train_sample", "epochs", "hidden",
              "max_iter", "update_interval", "tol", "batch_size")
NLSH_KEYS = ("graph_k", "partitioner", "imbalance", "assign", "router_hidden", "router_epochs",
             "router_sample")
STOP_KEYS = ("stop_queries", "stop_cap")
SCORE_KEYS = ("rank", "global_dim", "train_size", "train_queries", "route")
SPACES = ("autoencoder", "graph-partition", "learned-stop", "learned-scores")


class Annann(BaseANN):
    """ANNANN (annann.learned.index.AnnannIndex) behind the BaseANN contract."""

    def __init__(self, metric, params):
        params = dict(params)
        self.space = params.pop("space", "autoencoder")
        if self.space not in SPACES:
            raise ValueError(f"annann adapter: space must be one of {SPACES}, got {self.space!r}")
        own = {"graph-partition": NLSH_KEYS, "learned-stop": STOP_KEYS,
               "learned-scores": SCORE_KEYS}.get(
            self.space, TRAIN_KEYS + ("rerank",))
        unknown = set(params) - set(own) - {"n_clusters", "M", "seed"}
        if unknown:
            raise ValueError(f"annann adapter: unknown parameters {sorted(unknown)} for space "
                             f"{self.space!r}")
        self.metric = metric
        self.n_clusters = params.get("n_clusters", 1.0)
        M, seed = int(params.get("M", 16)), int(params.get("seed", 0))
        self.target_recall = None
        self.candidates, self.margin = None, None
        if self.space == "learned-scores":
            self.rerank = 1
            self.index = LearnedScoreIndex(
                metric, n_clusters=self.n_clusters, M=M, seed=seed,
                **{key: params[key] for key in SCORE_KEYS if key in params})
        elif self.space == "learned-stop":
            self.rerank = 1
            self.index = LearnedStopIndex(
                metric, n_clusters=self.n_clusters, M=M, seed=seed,
                stop_queries=int(params.get("stop_queries", 2000)),
                stop_cap=params.get("stop_cap"))
        elif self.space == "graph-partition":
            self.rerank = 1
            router = {"hidden": tuple(params.get("router_hidden", (256,))),
                      "epochs": int(params.get("router_epochs", 8)),
                      "train_sample": int(params.get("router_sample", 300000))}
            self.index = NeuralLshIndex(
                metric, n_parts=self.n_clusters, n_neighbors=int(params.get("graph_k", 10)),
                partitioner=params.get("partitioner", "metis"),
                imbalance=float(params.get("imbalance", 0.03)),
                assign=params.get("assign", "router"), M=M, seed=seed, router=router)
        else:
            self.rerank = int(params.get("rerank", 10))
            self.train = {key: params[key] for key in TRAIN_KEYS if key in params}
            self.train.setdefault("dec", True)
            self.index = AnnannIndex(metric, n_clusters=self.n_clusters, rerank=self.rerank,
                                     M=M, seed=seed, train=self.train)
        if self.space == "graph-partition":  # kernels compiled here, not inside the timed fit
            warm_up_nlsh(metric, self.index.n_neighbors)
        elif self.space == "learned-stop":
            warm_up_stop(metric)
        elif self.space == "learned-scores":
            warm_up_scores(metric)
        else:
            warm_up(metric)
        self.C = 10
        self._set_name()

    def _set_name(self):
        if self.space == "learned-scores":
            self.name = (f"annann-scores(n_clusters={self.n_clusters}, rank={self.index.rank}, "
                         f"C={self.C}, candidates={self.candidates}, margin={self.margin})")
            return
        if self.space == "learned-stop":
            self.name = (f"annann-stop(n_clusters={self.n_clusters}, C={self.C}, "
                         f"target={self.target_recall})")
            return
        cfg = self.index.config
        if self.space == "graph-partition":
            self.name = (f"annann-nlsh(n_parts={self.n_clusters}, "
                         f"graph_k={self.index.n_neighbors}, {self.index.partitioner}, "
                         f"assign={self.index.assign}, router={list(cfg.hidden)}, C={self.C})")
            return
        self.name = (f"annann(n_clusters={self.n_clusters}, code_dim={cfg.code_dim}, "
                     f"dec={cfg.dec}, gamma={cfg.gamma}, knn={cfg.knn_weight}, C={self.C}, "
                     f"r={self.rerank})")

    def fit(self, X):
        """Learn the space (encoder, or graph partition + router) and build the cluster index."""
        self.index.fit(as_float_matrix(X))

    def set_query_arguments(self, C, *more):
        """Set C, the clusters scanned per query, then for learned-stop the target recall (C is
        then the most) and for learned-scores candidates and margin; resets the counters."""
        self.C = int(C)
        most = {"learned-stop": 1, "learned-scores": 2}.get(self.space, 0)
        if len(more) > most:
            raise ValueError(f"annann adapter: space {self.space!r} takes at most {most + 1} "
                             f"query arguments, got {1 + len(more)}")
        if self.space == "learned-stop":
            self.target_recall = float(more[0]) if more and more[0] is not None else None
        elif self.space == "learned-scores":
            self.candidates = int(more[0]) if more and more[0] is not None else None
            self.margin = float(more[1]) if len(more) > 1 and more[1] is not None else None
        self.index.counters.reset()
        self._set_name()

    def _kw(self):
        if self.space == "learned-scores":
            return {"candidates": self.candidates, "margin": self.margin}
        return {"target_recall": self.target_recall} if self.space == "learned-stop" else {}

    def query(self, q, n):
        """Ids of the n approximate nearest neighbours of q."""
        ids, _ = self.index.search(q, n, C=self.C, **self._kw())
        return ids

    def batch_query(self, X, n):
        """Answer every row of X at once; results go to self.res."""
        ids, _ = self.index.search_batch(X, n, C=self.C, **self._kw())
        self.res = [row[row >= 0] for row in np.asarray(ids)]

    def get_additional(self):
        """Since the last set_query_arguments: dist_comps (the harness's total over every query
        of every run, centroid re-rank plus scan), and per-query means of distance computations
        and of vectors scanned."""
        return self.index.counters.report()
