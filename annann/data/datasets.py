"""Datasets in the ann-benchmarks HDF5 layout: read, validate, write, find by name, download.

Layout: attrs ``type``, ``distance``, ``dimension``, ``point_type``; datasets ``train`` (n, d),
``test`` (m, d), ``neighbors`` (m, K) int and ``distances`` (m, K) float, exact and ascending.

Two real sets ship with the package (package data in this folder, found by name from anywhere;
``EMBEDDED_DATASETS``; provenance, licences and checksums in ``annann/data/README.md``):

- ``bigann-10k-128-euclidean``: 9,900 x 128 real SIFT descriptors, 100 queries (the default)
- ``glove-twitter-12k-25-angular``: 11,425 x 25 GloVe Twitter vectors, 500 queries
"""

import os
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from ..core.atomic import atomic_path
from ..core.distances import METRICS
from .download import download
from .groundtruth import exact_knn

EMBEDDED_DIR = Path(__file__).resolve().parent  # the EMBEDDED_DATASETS ship here
# name -> what it is; annann/data/README.md has the provenance, licence and checksums of each
EMBEDDED_DATASETS = {
    "bigann-10k-128-euclidean": "9,900 x 128 real BIGANN-style SIFT descriptors (uint8 values as "
                                "float32), 100 queries; from TileDB-Vector-Search's test arrays "
                                "(MIT)",
    "glove-twitter-12k-25-angular": "11,425 x 25 GloVe Twitter vectors (a subset of "
                                    "glove.twitter.27B.25d, PDDL), 500 queries",
}
DEFAULT_DATASET = "bigann-10k-128-euclidean"
DATA_PATH_ENV = "ANNANN_DATA_PATH"
URL_ENV = "ANNANN_DATASET_URL"
DEFAULT_BASE_URL = "https://ann-benchmarks.com"

# Standard ann-benchmarks names that can be downloaded: name -> (train rows, test rows, dim, metric).
DATASETS = {
    "sift-128-euclidean": (1_000_000, 10_000, 128, "euclidean"),
    "gist-960-euclidean": (1_000_000, 1_000, 960, "euclidean"),
    "fashion-mnist-784-euclidean": (60_000, 10_000, 784, "euclidean"),
    "mnist-784-euclidean": (60_000, 10_000, 784, "euclidean"),
    "glove-25-angular": (1_183_514, 10_000, 25, "angular"),
    "glove-50-angular": (1_183_514, 10_000, 50, "angular"),
    "glove-100-angular": (1_183_514, 10_000, 100, "angular"),
    "glove-200-angular": (1_183_514, 10_000, 200, "angular"),
    "nytimes-256-angular": (290_000, 10_000, 256, "angular"),
    "deep-image-96-angular": (9_990_000, 10_000, 96, "angular"),
}


class DatasetError(ValueError):
    """A dataset file is missing, unreadable, or not in the ann-benchmarks layout."""


@dataclass
class Dataset:
    """An ann-benchmarks dataset held in memory."""

    name: str
    distance: str
    train: np.ndarray
    test: np.ndarray
    neighbors: np.ndarray
    distances: np.ndarray
    path: Path = None
    attrs: dict = field(default_factory=dict)

    @property
    def dimension(self):
        """Number of columns of the vectors."""
        return int(self.train.shape[1])

    @property
    def point_type(self):
        """The file's point_type attribute ("float" if absent)."""
        return self.attrs.get("point_type", "float")


def first_rows(dataset, n, count=100):
    """The dataset with only its first n train rows and exact ground truth recomputed for them.

    n None or >= the train size returns the dataset unchanged. The name gets a "-n<rows>" suffix.
    """
    if n is None or n >= dataset.train.shape[0]:
        return dataset
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n: must be a positive number of rows, got {n!r}")
    train = np.asarray(dataset.train[:n])
    neighbors, dists = exact_knn(train, dataset.test, min(count, n), dataset.distance)
    return Dataset(f"{dataset.name}-n{n}", dataset.distance, train, dataset.test, neighbors,
                   dists, None, dict(dataset.attrs))


def _attr_str(value):
    return value.decode() if isinstance(value, bytes) else str(value)


def check_layout(f, where):
    """Raise DatasetError unless the open h5py file ``f`` follows the dense float layout."""
    missing = [k for k in ("train", "test", "neighbors", "distances") if k not in f]
    if missing:
        raise DatasetError(f"{where}: not an ann-benchmarks dataset, missing {', '.join(missing)}")
    if "distance" not in f.attrs:
        raise DatasetError(f"{where}: attribute 'distance' is missing")
    distance = _attr_str(f.attrs["distance"])
    if distance not in METRICS:
        raise DatasetError(f"{where}: distance {distance!r} is not supported (supported: "
                           f"{', '.join(METRICS)})")
    kind = _attr_str(f.attrs.get("type", "dense"))
    if kind != "dense":
        raise DatasetError(f"{where}: type {kind!r} is not supported, only dense")
    point_type = _attr_str(f.attrs.get("point_type", "float"))
    if point_type != "float":
        raise DatasetError(f"{where}: point_type {point_type!r} is not supported, only float")
    tr, te, nb, ds = (f[k] for k in ("train", "test", "neighbors", "distances"))
    if tr.ndim != 2 or te.ndim != 2 or tr.shape[1] != te.shape[1]:
        raise DatasetError(f"{where}: train {tr.shape} and test {te.shape} must be 2-D with the "
                           "same dimension")
    if tr.shape[0] == 0 or te.shape[0] == 0:
        raise DatasetError(f"{where}: train or test is empty")
    if "dimension" in f.attrs and int(f.attrs["dimension"]) != tr.shape[1]:
        raise DatasetError(f"{where}: attribute dimension={int(f.attrs['dimension'])} but train has "
                           f"{tr.shape[1]} columns")
    if nb.shape != ds.shape or nb.ndim != 2 or nb.shape[0] != te.shape[0]:
        raise DatasetError(f"{where}: neighbors {nb.shape} and distances {ds.shape} must be "
                           f"(test rows={te.shape[0]}, K)")
    return distance


def read_dataset(path, name=None):
    """Load and validate an HDF5 dataset file; raise DatasetError for missing/corrupt/foreign files."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such dataset file")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise DatasetError(f"{path}: not a readable HDF5 file ({exc})") from exc
    with f:
        distance = check_layout(f, str(path))
        attrs = {k: (_attr_str(v) if isinstance(v, (bytes, str)) else v) for k, v in f.attrs.items()}
        train = np.asarray(f["train"], dtype=np.float32)
        test = np.asarray(f["test"], dtype=np.float32)
        neighbors = np.asarray(f["neighbors"], dtype=np.int64)
        dists = np.asarray(f["distances"], dtype=np.float32)
    if not (np.isfinite(train).all() and np.isfinite(test).all()):
        raise DatasetError(f"{path}: train or test contains NaN or inf")
    if neighbors.size and (neighbors.min() < 0 or neighbors.max() >= train.shape[0]):
        raise DatasetError(f"{path}: neighbors hold ids outside [0, {train.shape[0]})")
    return Dataset(name or dataset_name(path), distance, train, test, neighbors, dists, path, attrs)


def dataset_name(path):
    """The name ann-benchmarks uses for a file: its stem."""
    return Path(path).name[:-len(".hdf5")] if str(path).endswith(".hdf5") else Path(path).stem


def write_dataset(path, train, test, neighbors, distances, distance):
    """Write the ann-benchmarks layout atomically (temp file + rename)."""
    if distance not in METRICS:
        raise ValueError(f"unknown distance {distance!r}; supported: {', '.join(METRICS)}")
    train = np.asarray(train, dtype=np.float32)
    test = np.asarray(test, dtype=np.float32)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["type"] = "dense"
            f.attrs["distance"] = distance
            f.attrs["dimension"] = int(train.shape[1])
            f.attrs["point_type"] = "float"
            f.create_dataset("train", data=train)
            f.create_dataset("test", data=test)
            f.create_dataset("neighbors", data=np.asarray(neighbors, dtype=np.int32))
            f.create_dataset("distances", data=np.asarray(distances, dtype=np.float32))
    return path


def build_dataset(path, train, test, distance, count=100, progress=True):
    """Compute exact ground truth (blocked, float64-checked) and write a dataset file."""
    neighbors, dists = exact_knn(train, test, min(count, train.shape[0]), distance,
                                 progress=progress)
    return write_dataset(path, np.asarray(train), test, neighbors, dists, distance)


def search_dirs(data_dir=None):
    """Directories searched for ``<name>.hdf5``, in order."""
    dirs = []
    if data_dir:
        dirs.append(Path(data_dir))
    dirs.append(Path.cwd() / "data")
    dirs += [Path(p) for p in os.environ.get(DATA_PATH_ENV, "").split(os.pathsep) if p]
    dirs.append(EMBEDDED_DIR)
    return dirs


def find_dataset(name, data_dir=None):
    """Return the path of dataset ``name`` (or of a path given directly), or None if absent."""
    if name.endswith(".hdf5") or os.sep in name:
        p = Path(name)
        return p if p.is_file() else None
    for d in search_dirs(data_dir):
        p = d / f"{name}.hdf5"
        if p.is_file():
            return p
    return None


def available_datasets(data_dir=None):
    """Names of every dataset file found on the search path."""
    names = set()
    for d in search_dirs(data_dir):
        if d.is_dir():
            names.update(dataset_name(p) for p in d.glob("*.hdf5"))
    return sorted(names)


def get_dataset(name, data_dir=None, download=True, progress=True):
    """Find (or download, for a registered name) and load a dataset.

    Raises DatasetError naming the directories searched when the name is unknown.
    """
    path = find_dataset(name, data_dir)
    if path is None and download and name in DATASETS:
        path = download_dataset(name, Path(data_dir) if data_dir else Path.cwd() / "data",
                                progress=progress)
    if path is None:
        searched = ", ".join(str(d) for d in search_dirs(data_dir))
        known = ", ".join(sorted(set(DATASETS) | set(available_datasets(data_dir))))
        raise DatasetError(f"unknown dataset {name!r}: not found in {searched}; known: {known}")
    return read_dataset(path, name=dataset_name(path))


def dataset_url(name):
    """Download URL of a dataset name (base URL from ANNANN_DATASET_URL if set)."""
    return f"{os.environ.get(URL_ENV, DEFAULT_BASE_URL).rstrip('/')}/{name}.hdf5"


def _validate_download(path):
    with h5py.File(path, "r") as f:
        check_layout(f, str(path))


def download_dataset(name, data_dir, progress=True):
    """Download a registered ann-benchmarks dataset into data_dir; return its path.

    Only a complete file that opens as a valid dataset gets its final name (see ``download``).
    """
    return download(dataset_url(name), Path(data_dir) / f"{name}.hdf5", progress=progress,
                    validate=_validate_download)
