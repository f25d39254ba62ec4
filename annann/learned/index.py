"""ANNANN: the cluster engine in a learned space (autoencoder + DEC/IDEC, optional k-NN term).

fit: train the encoder in a child process (TensorFlow never enters this process), then build a
ClusterIndex whose clusters, assignment and centroid HNSW live in the code space (DEC centres when
DEC is on, else k-means in the code space); re-ranking and the final scan use the original space.
Inserts encode and assign new vectors; deletes are the engine's. save/load include the encoder.
"""

from dataclasses import asdict, fields

from ..core.distances import check_metric, normalize_rows
from ..core.index_format import IndexFormatError, IndexWriter, read_index
from ..core.stats import SearchCounters
from ..core.validation import NotFittedError, as_float_matrix
from ..ivf.index import ClusterIndex
from ..ivf.kmeans import resolve_n_clusters
from .encoder import NumpyEncoder
from .training import TrainConfig, train_encoder


def make_config(value, cls=TrainConfig, name="train", what="training"):
    """A ``cls`` config (TrainConfig, or the router's) from None, an instance or a dict of its
    fields (unknown keys refused, ``hidden`` made a tuple); a copy, never the caller's object."""
    if value is None:
        return cls()
    if isinstance(value, cls):
        return cls(**asdict(value))
    if isinstance(value, dict):
        unknown = sorted(set(value) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"{name}: unknown {what} parameters {unknown}")
        cfg = dict(value)
        if "hidden" in cfg:
            cfg["hidden"] = tuple(cfg["hidden"])
        return cls(**cfg)
    raise ValueError(f"{name}: expected a {cls.__name__} or dict, got {type(value).__name__}")


class AnnannIndex:
    """Learned-space cluster index. ``train`` holds the TrainConfig fields (code_dim, dec, gamma,
    knn_weight, train_sample, ...); its n_clusters is overridden by this index's n_clusters.

    Subclasses (``neural_lsh.NeuralLshIndex``) change how the space is learned (fit), how a row
    is mapped into it (_encode) and what settings are stored (KIND, _settings, _restore); search,
    updates and persistence are shared."""

    KIND = "AnnannIndex"

    def __init__(self, metric="euclidean", n_clusters=1024, rerank=10, M=16, ef_construction=200,
                 storage="memory", storage_path=None, kmeans_sample=None, seed=0, progress=False,
                 train=None):
        self.metric = check_metric(metric)
        self.config = make_config(train)
        self.config.seed = seed
        self.config.progress = bool(progress)
        self.engine_args = dict(metric=metric, n_clusters=n_clusters, rerank=rerank, M=M,
                                ef_construction=ef_construction, storage=storage,
                                storage_path=storage_path, kmeans_sample=kmeans_sample, seed=seed,
                                progress=progress)
        ClusterIndex(**self.engine_args)  # validate engine parameters before any training
        self.encoder = None
        self.index = None
        self.train_log = {}

    def _transform(self, X):
        """Raw rows -> routing-space rows (angular rows are unit-normalised first, as in
        training)."""
        if self.metric == "angular":
            X = normalize_rows(as_float_matrix(X, name="X", dim=self.encoder.input_dim))
        return self._encode(X)

    def _encode(self, X):
        """Codes of (normalised) rows: the encoder's output."""
        return self.encoder.transform(X)

    def _settings(self):
        """What save stores besides the metric and the engine's parameters."""
        return {"train": asdict(self.config)}

    def _restore(self, params):
        """Set what _settings stored (KeyError/TypeError if missing or malformed)."""
        self.config = make_config(params["train"])

    def fit(self, X, ids=None):
        """Train the encoder on X (in a child process), then build the cluster index in the code
        space; returns self."""
        X = as_float_matrix(X, name="X")
        cfg = TrainConfig(**asdict(self.config))
        if cfg.dec:
            cfg.n_clusters = resolve_n_clusters(self.engine_args["n_clusters"], X.shape[0])
        T = normalize_rows(X) if self.metric == "angular" else X
        result = train_encoder(T, cfg)
        self.encoder, self.train_log = result.encoder, result.log
        self.index = ClusterIndex(**self.engine_args).fit(X, ids=ids, transform=self._transform,
                                                          centers=result.centers)
        return self

    def _require_fit(self):
        if self.index is None:
            raise NotFittedError("AnnannIndex: call fit() (or load()) first")
        return self.index

    def search(self, q, k, C=10, margin=None):
        """(ids, distances) of the k nearest among the C scanned clusters (margin: the coded
        scan's, see ``ClusterIndex.search``)."""
        return self._require_fit().search(q, k, C, margin=margin)

    def search_batch(self, Q, k, C=10, margin=None):
        """(ids (m, k), distances (m, k)) for every row of Q, padded with -1 / inf."""
        return self._require_fit().search_batch(Q, k, C, margin=margin)

    def add(self, X, ids):
        """Encode and insert vectors with new ids (no retraining, no rebuild)."""
        self._require_fit().add(X, ids)

    def remove(self, ids):
        """Delete ids (unknown ids raise before anything changes)."""
        self._require_fit().remove(ids)

    def update(self, X, ids):
        """Replace the vectors of existing ids, re-encoded and re-assigned."""
        self._require_fit().update(X, ids)

    @property
    def last_stats(self):
        """Vectors scanned and distance computations of the last search."""
        return {} if self.index is None else self.index.last_stats

    @property
    def counters(self):
        """The engine's cumulative search counters (``core.stats.SearchCounters``)."""
        if self.index is None:
            self._idle_counters = getattr(self, "_idle_counters", SearchCounters())
            return self._idle_counters
        return self.index.counters

    @property
    def size(self):
        """Number of vectors in the index (0 before fit)."""
        return 0 if self.index is None else self.index.size

    def cluster_sizes(self):
        """Number of vectors in each cluster."""
        return self._require_fit().cluster_sizes()

    def imbalance(self):
        """Cluster size balance statistics (see ClusterIndex.imbalance)."""
        return self._require_fit().imbalance()

    def memory_bytes(self):
        """The engine's memory_bytes plus the encoder's weights."""
        out = dict(self._require_fit().memory_bytes())
        out["encoder"] = self.encoder.nbytes()
        out["total"] += out["encoder"]
        out["ram"] += out["encoder"]
        return out

    def save(self, path):
        """Write one index directory (encoder weights and the engine's clusters) atomically."""
        index = self._require_fit()
        params = dict(self._settings(), metric=self.metric, engine=index._params())
        with IndexWriter(path, self.KIND, params, {"train_log": self.train_log}) as w:
            for name, arr in self.encoder.state().items():
                w.add_array("encoder." + name, arr)
            index._write_parts(w, "clusters.")

    @classmethod
    def load(cls, path, storage=None, storage_path=None):
        """Load an index written by save (encoder included); IndexFormatError (a ValueError) for a
        foreign, old, corrupt or mismatched directory."""
        stored = read_index(path, cls.KIND)
        encoder = NumpyEncoder.from_state(stored.arrays("encoder."), source=str(path))
        self = cls.__new__(cls)
        try:
            self.metric = check_metric(stored.params["metric"])
            self._restore(stored.params)
            engine = dict(stored.params["engine"])
        except (KeyError, TypeError) as exc:
            raise IndexFormatError(f"{path}: {cls.KIND} metadata incomplete ({exc})") from exc
        self.encoder, self.train_log = encoder, stored.state.get("train_log", {})
        self.index = ClusterIndex._from_parts(stored, "clusters.", engine, self._transform,
                                              storage, storage_path)
        if self.index.dim != encoder.input_dim:
            raise IndexFormatError(f"{path}: encoder input dimension {encoder.input_dim} does not "
                                   f"match the index dimension {self.index.dim}")
        self.engine_args = dict(engine, storage=self.index.storage, storage_path=storage_path,
                                progress=False)
        return self


__all__ = ["AnnannIndex", "make_config"]
