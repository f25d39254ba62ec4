"""Train the ANNANN encoder (autoencoder, then DEC/IDEC and/or the k-NN term) in a child process.

``train_encoder`` never imports TensorFlow: it writes the training subsample to a temp folder, runs
``python -m annann.learned.training <folder>`` and reads back numpy weights (a NumpyEncoder),
DEC centres and a log with timings. The child is seeded and deterministic
(keras.utils.set_random_seed, op determinism, oneDNN off, ``threads`` intra-op threads).
"""

import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..core.procs import child_env, die_with_parent
from ..core.validation import as_float_matrix, check_positive_int
from .encoder import NumpyEncoder

STANDARDIZE = ("global", "feature")


@dataclass
class TrainConfig:
    """Everything that shapes the learned space. ``knn_weight`` 0 turns the k-NN term off.

    standardize: "global" subtracts the per-feature mean and divides by ONE scale (keeps the
    geometry of the original space, so reconstruction error weighs dimensions as the metric does);
    "feature" divides each feature by its own standard deviation.
    """

    hidden: tuple = (96, 64)
    code_dim: int = 32
    activation: str = "relu"
    standardize: str = "global"
    epochs: int = 30
    batch_size: int = 256
    validation_split: float = 0.1
    patience: int = 3
    learning_rate: float = 1e-3
    dec: bool = True
    n_clusters: int = 256
    gamma: float = 0.1
    update_interval: int = 0  # steps between target updates; 0 = one pass over the training set
    tol: float = 0.001
    max_iter: int = 0  # stage-2 steps; 0 = ten passes over the training set
    knn_weight: float = 0.0
    knn_k: int = 10
    knn_anchors: int = 10000
    train_sample: int = 100000
    seed: int = 0
    threads: int = 1
    progress: bool = True

    def validate(self):
        """Check every field (ValueError naming the bad one); returns self."""
        self.hidden = tuple(check_positive_int(h, "hidden layer size") for h in self.hidden)
        for name in ("code_dim", "epochs", "batch_size", "n_clusters", "knn_k", "knn_anchors",
                     "train_sample", "threads"):
            check_positive_int(getattr(self, name), name)
        for name in ("update_interval", "max_iter", "patience", "seed"):
            check_positive_int(getattr(self, name), name, minimum=0)
        if self.standardize not in STANDARDIZE:
            raise ValueError(f"standardize: expected one of {STANDARDIZE}, "
                             f"got {self.standardize!r}")
        if self.activation not in ("relu", "tanh", "elu", "linear"):
            raise ValueError(f"activation: unsupported {self.activation!r}")
        if not 0.0 <= self.validation_split < 1.0:
            raise ValueError(f"validation_split: must be in [0, 1), got {self.validation_split}")
        for name in ("gamma", "knn_weight", "tol"):
            if not (np.isfinite(getattr(self, name)) and getattr(self, name) >= 0):
                raise ValueError(f"{name}: must be finite and >= 0, got {getattr(self, name)}")
        if not (np.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise ValueError(f"learning_rate: must be > 0, got {self.learning_rate}")
        return self


@dataclass
class TrainResult:
    """What train_encoder returns: the numpy encoder, DEC centres and the log."""

    encoder: NumpyEncoder
    centers: np.ndarray  # (n_clusters, code_dim) DEC centres, or None without DEC
    log: dict


def subsample_rows(n, size, seed):
    """Sorted random row indices (all rows, shuffled, if size >= n)."""
    rng = np.random.default_rng(seed)
    if size >= n:
        return rng.permutation(n)
    return rng.permutation(np.sort(rng.choice(n, size=size, replace=False)))


def standardisation(X, mode):
    """(mean, scale) that standardise X: one global scale or one per feature (see TrainConfig)."""
    mean = X.mean(axis=0, dtype=np.float64)
    if mode == "global":
        s = float(np.sqrt(X.var(axis=0, dtype=np.float64).mean()))
        scale = np.full(X.shape[1], s if s > 0 else 1.0)
    else:
        scale = X.std(axis=0, dtype=np.float64)
        scale[~(scale > 1e-8 * max(scale.max(), 1e-30))] = 1.0
    return mean.astype(np.float32), scale.astype(np.float32)


def train_encoder(X, config=None):
    """Train in a spawned child (TensorFlow stays out of this process); return a TrainResult."""
    cfg = (config or TrainConfig()).validate()
    if importlib.util.find_spec("tensorflow") is None:
        raise ImportError("ANNANN trains its encoder with TensorFlow, which is not installed: "
                          "pip install 'annann[learned]'")
    X = as_float_matrix(X, name="X")
    if X.shape[0] < max(2, cfg.n_clusters if cfg.dec else 2):
        raise ValueError(f"X: {X.shape[0]} rows are too few to train {cfg.n_clusters} DEC clusters")
    if cfg.dec and min(cfg.train_sample, X.shape[0]) < cfg.n_clusters:
        raise ValueError(f"train_sample={cfg.train_sample}: trains on fewer rows than the "
                         f"{cfg.n_clusters} DEC clusters")
    t0 = time.perf_counter()
    rows = subsample_rows(X.shape[0], cfg.train_sample, cfg.seed)
    state, log = run_child("annann.learned.training", {"x": X[rows]}, asdict(cfg), cfg.threads,
                           cfg.seed, cfg.progress, "encoder training")
    centers = state.pop("dec_centers", None)
    log["train_rows"] = int(rows.shape[0])
    log["wall_seconds"] = time.perf_counter() - t0
    return TrainResult(NumpyEncoder.from_state(state, source="training child"), centers, log)


def run_child(module, arrays, config, threads, seed, progress, what):
    """Run ``python -m module <folder>`` on arrays (saved as <name>.npy) and config.json; return
    (the arrays of its result.npz, its log.json). TensorFlow lives only in that child: seeded,
    deterministic, oneDNN off, ``threads`` intra-op threads; it dies with this process."""
    with tempfile.TemporaryDirectory(prefix="annann-train-") as tmp:
        tmp = Path(tmp)
        for name, arr in arrays.items():
            np.save(tmp / f"{name}.npy", arr)
        (tmp / "config.json").write_text(json.dumps(config))
        env = dict(child_env(), TF_CPP_MIN_LOG_LEVEL="2", TF_ENABLE_ONEDNN_OPTS="0",
                   OMP_NUM_THREADS=str(threads), PYTHONHASHSEED=str(seed))
        proc = subprocess.run([sys.executable, "-m", module, str(tmp)], env=env,
                              stdout=None if progress else subprocess.PIPE,
                              stderr=None if progress else subprocess.PIPE, text=True)
        if proc.returncode != 0 or not (tmp / "result.npz").is_file():
            tail = (proc.stderr or "")[-3000:]
            raise RuntimeError(f"{what} failed in the child process "
                               f"(exit code {proc.returncode}){': ' + tail if tail else ''}")
        with np.load(tmp / "result.npz", allow_pickle=False) as data:
            state = {key: data[key] for key in data.files}
        return state, json.loads((tmp / "log.json").read_text())


def seed_tensorflow(threads, seed):
    """Child side: TensorFlow on ``threads`` intra-op threads, seeded, deterministic ops."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import keras

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def write_result(folder, state, log):
    """Child side: the result arrays and log that run_child reads back."""
    folder = Path(folder)
    with open(folder / "result.npz", "wb") as fh:
        np.savez(fh, **state)
    (folder / "log.json").write_text(json.dumps(log))


def run_training(Xs, cfg):
    """The TensorFlow part (child process only): returns (NumpyEncoder, centres or None, log)."""
    seed_tensorflow(cfg.threads, cfg.seed)
    from .autoencoder import build_autoencoder, dense_layers, train_reconstruction
    from .dec import kmeans_centers, train_stage2
    from .knn_loss import knn_pairs

    log = {"seconds": {}}
    t = time.perf_counter()
    mean, scale = standardisation(Xs, cfg.standardize)
    Xn = ((Xs - mean) / scale).astype(np.float32)
    ae, enc = build_autoencoder(Xs.shape[1], cfg.hidden, cfg.code_dim, cfg.activation)
    log["stage1"] = train_reconstruction(ae, Xn, cfg.epochs, cfg.batch_size, cfg.validation_split,
                                         cfg.patience, cfg.learning_rate, cfg.progress)
    log["seconds"]["stage1"] = time.perf_counter() - t
    centers = None
    if cfg.dec:
        t = time.perf_counter()
        Z = enc.predict(Xn, batch_size=8192, verbose=0)
        centers = kmeans_centers(Z, cfg.n_clusters, seed=cfg.seed)
        log["seconds"]["kmeans_init"] = time.perf_counter() - t
    knn = None
    if cfg.knn_weight > 0:
        t = time.perf_counter()
        knn = knn_pairs(Xs, cfg.knn_k, cfg.knn_anchors, seed=cfg.seed)
        log["seconds"]["knn_pairs"] = time.perf_counter() - t
    if cfg.dec or knn is not None:
        t = time.perf_counter()
        centers, log["stage2"] = train_stage2(
            ae, enc, Xn, centers, gamma=cfg.gamma, update_interval=cfg.update_interval or None,
            tol=cfg.tol, max_iter=cfg.max_iter or None, batch_size=cfg.batch_size,
            learning_rate=cfg.learning_rate, knn=knn, knn_weight=cfg.knn_weight, seed=cfg.seed,
            progress=cfg.progress)
        log["seconds"]["stage2"] = time.perf_counter() - t
    kernels, biases, acts = dense_layers(enc)
    return NumpyEncoder(mean, scale, kernels, biases, acts), centers, log


def _child_main(folder):
    folder = Path(folder)
    cfg_dict = json.loads((folder / "config.json").read_text())
    cfg_dict["hidden"] = tuple(cfg_dict["hidden"])
    cfg = TrainConfig(**cfg_dict)
    encoder, centers, log = run_training(np.load(folder / "x.npy"), cfg)
    state = encoder.state()
    if centers is not None:
        state["dec_centers"] = centers
    write_result(folder, state, log)


if __name__ == "__main__":
    die_with_parent()  # a killed parent takes its training child with it
    _child_main(sys.argv[1])
