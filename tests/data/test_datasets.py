import hashlib

import h5py
import numpy as np
import pytest

from annann.data import datasets
from annann.data.datasets import (DEFAULT_DATASET, DatasetError, find_dataset, get_dataset,
                             read_dataset, write_dataset)
from annann.data.synthetic import gaussian_clusters, make_synthetic_dataset


def _write(path, n=50, m=5, d=4, metric="euclidean"):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n + m, d)).astype(np.float32)
    from annann.data.groundtruth import exact_knn

    ids, dist = exact_knn(X[:n], X[n:], 10, metric)
    return write_dataset(path, X[:n], X[n:], ids, dist, metric)


def test_written_file_has_exactly_the_ann_benchmarks_layout(tmp_path):
    p = _write(tmp_path / "toy-4-euclidean.hdf5")
    with h5py.File(p, "r") as f:
        assert set(f.keys()) == {"train", "test", "neighbors", "distances"}
        assert dict(f.attrs) == {"type": "dense", "distance": "euclidean", "dimension": 4,
                                 "point_type": "float"}
        assert f["train"].shape == (50, 4) and f["train"].dtype == np.float32
        assert f["neighbors"].shape == (5, 10) and f["neighbors"].dtype == np.int32
        assert f["distances"].dtype == np.float32
    ds = read_dataset(p)
    assert ds.name == "toy-4-euclidean" and ds.distance == "euclidean" and ds.dimension == 4


def test_no_temp_file_is_left_behind(tmp_path):
    _write(tmp_path / "a.hdf5")
    assert [q.name for q in tmp_path.iterdir()] == ["a.hdf5"]


def test_missing_corrupt_and_foreign_files_are_refused(tmp_path):
    with pytest.raises(DatasetError, match="no such dataset file"):
        read_dataset(tmp_path / "nope.hdf5")
    bad = tmp_path / "corrupt.hdf5"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + b"garbage" * 10)
    with pytest.raises(DatasetError, match="not a readable HDF5 file"):
        read_dataset(bad)
    foreign = tmp_path / "foreign.hdf5"
    with h5py.File(foreign, "w") as f:
        f.create_dataset("images", data=np.zeros((3, 3)))
    with pytest.raises(DatasetError, match="missing train, test, neighbors, distances"):
        read_dataset(foreign)
    truncated = tmp_path / "trunc.hdf5"
    data = _write(tmp_path / "full.hdf5").read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError):
        read_dataset(truncated)


@pytest.mark.parametrize("attr, value, message", [
    ("distance", "hamming", "distance 'hamming' is not supported"),
    ("point_type", "bit", "point_type 'bit'"),
    ("type", "sparse", "type 'sparse'"),
    ("dimension", 7, "dimension=7"),
])
def test_wrong_attrs_are_refused(tmp_path, attr, value, message):
    p = _write(tmp_path / "x.hdf5")
    with h5py.File(p, "r+") as f:
        f.attrs[attr] = value
    with pytest.raises(DatasetError, match=message):
        read_dataset(p)


def test_missing_distance_attr_and_shape_mismatch(tmp_path):
    p = _write(tmp_path / "x.hdf5")
    with h5py.File(p, "r+") as f:
        del f.attrs["distance"]
    with pytest.raises(DatasetError, match="'distance' is missing"):
        read_dataset(p)
    p = _write(tmp_path / "y.hdf5")
    with h5py.File(p, "r+") as f:
        del f["distances"]
        f.create_dataset("distances", data=np.zeros((4, 10), np.float32))
    with pytest.raises(DatasetError, match="must be"):
        read_dataset(p)


def test_lookup_order_data_dir_then_cwd_data_then_env_then_embedded(tmp_path, monkeypatch):
    name = "toy-4-euclidean"
    explicit, cwd, env = tmp_path / "explicit", tmp_path / "cwd", tmp_path / "env"
    for d in (explicit, cwd / "data", env):
        _write(d / f"{name}.hdf5")
    monkeypatch.chdir(cwd)
    monkeypatch.setenv(datasets.DATA_PATH_ENV, f"{tmp_path / 'empty'}{__import__('os').pathsep}{env}")
    assert find_dataset(name, explicit) == explicit / f"{name}.hdf5"
    assert find_dataset(name).resolve() == (cwd / "data" / f"{name}.hdf5").resolve()
    (cwd / "data" / f"{name}.hdf5").unlink()
    assert find_dataset(name) == env / f"{name}.hdf5"
    assert find_dataset(DEFAULT_DATASET) == datasets.EMBEDDED_DIR / f"{DEFAULT_DATASET}.hdf5"


# name -> (metric, train shape, test shape, sha256 of train as C-contiguous float32 bytes), as
# annann/data/README.md documents them
EMBEDDED = {
    "bigann-10k-128-euclidean": ("euclidean", (9900, 128), (100, 128),
                                 "5e4ad98c59cd8ac7645e8231f764eedeb3a9a12dd3fa3781ffa311cdf1146494"),
    "glove-twitter-12k-25-angular": ("angular", (11425, 25), (500, 25),
                                     "72ee7d30ed46adeddce16f1f2879ff5c7d03c0605cede7126d2911a44a539709"),
}


@pytest.mark.parametrize("name", sorted(EMBEDDED))
def test_embedded_real_sets_are_found_by_name_from_anywhere(name, monkeypatch, tmp_path):
    """No ./data, no ANNANN_DATA_PATH: the name finds the real set shipped in annann/data/."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(datasets.DATA_PATH_ENV, raising=False)
    assert set(datasets.EMBEDDED_DATASETS) == set(EMBEDDED)
    ds = get_dataset(name, download=False)
    metric, train, test, sha = EMBEDDED[name]
    assert ds.path == datasets.EMBEDDED_DIR / f"{name}.hdf5" and ds.name == name
    assert ds.distance == metric and ds.train.shape == train and ds.test.shape == test
    assert hashlib.sha256(np.ascontiguousarray(ds.train).tobytes()).hexdigest() == sha


def test_embedded_sets_are_package_data():
    """pyproject's package-data globs take every embedded file (and its provenance note)."""
    import fnmatch
    import tomllib

    from tests.paths import ROOT

    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]["annann.data"]
    files = [f"{name}.hdf5" for name in EMBEDDED] + ["README.md"]
    assert all(any(fnmatch.fnmatch(f, g) for g in globs) for f in files), globs
    assert all((datasets.EMBEDDED_DIR / f).is_file() for f in files)


def test_embedded_default_is_the_real_sift_set(bigann10k):
    assert DEFAULT_DATASET == "bigann-10k-128-euclidean"
    ds = get_dataset(DEFAULT_DATASET, download=False)
    assert np.array_equal(ds.train, bigann10k.train) and np.array_equal(ds.test, bigann10k.test)


def test_unknown_name_lists_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DatasetError, match="unknown dataset 'no-such-set'.*not found in"):
        get_dataset("no-such-set")


def test_synthetic_generator_is_seeded_and_exact(tmp_path):
    assert np.array_equal(gaussian_clusters(100, 8, seed=3), gaussian_clusters(100, 8, seed=3))
    assert not np.array_equal(gaussian_clusters(100, 8, seed=3), gaussian_clusters(100, 8, seed=4))
    ds = read_dataset(make_synthetic_dataset(tmp_path / "syn.hdf5", 500, 20, 8, "angular"))
    assert ds.distance == "angular" and ds.neighbors.shape == (20, 100)
    from annann.core.distances import distances

    np.testing.assert_allclose(distances(ds.test[0], ds.train[ds.neighbors[0]], "angular"),
                               ds.distances[0], atol=1e-5)
