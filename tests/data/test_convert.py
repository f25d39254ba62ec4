import gzip

import numpy as np
import pytest

from annann.data.convert import convert_idx, convert_texmex, read_idx, read_vecs, write_vecs
from annann.data.datasets import read_dataset


@pytest.mark.parametrize("ext, dtype", [(".fvecs", np.float32), (".bvecs", np.uint8),
                                        (".ivecs", np.int32)])
def test_vecs_round_trip(tmp_path, ext, dtype):
    X = (np.arange(60).reshape(5, 12) % 250).astype(dtype)
    write_vecs(tmp_path / f"a{ext}", X)
    Y = read_vecs(tmp_path / f"a{ext}")
    assert Y.dtype == dtype and np.array_equal(Y, X)


def test_corrupt_vecs_files_are_refused(tmp_path):
    write_vecs(tmp_path / "a.fvecs", np.ones((3, 4), np.float32))
    data = (tmp_path / "a.fvecs").read_bytes()
    (tmp_path / "t.fvecs").write_bytes(data[:-3])
    with pytest.raises(ValueError, match="not a multiple of the row size"):
        read_vecs(tmp_path / "t.fvecs")
    (tmp_path / "x.txt").write_bytes(data)
    with pytest.raises(ValueError, match="unknown texmex extension"):
        read_vecs(tmp_path / "x.txt")
    mixed = bytearray(data)
    mixed[20:24] = np.int32(9).tobytes()  # second row claims another dimension
    (tmp_path / "m.fvecs").write_bytes(bytes(mixed))
    with pytest.raises(ValueError, match="differing dimensions"):
        read_vecs(tmp_path / "m.fvecs")


def test_texmex_conversion_of_real_sift_rows_gives_exact_ground_truth(tmp_path, bigann10k):
    write_vecs(tmp_path / "base.bvecs", bigann10k.train.astype(np.uint8))
    write_vecs(tmp_path / "query.fvecs", bigann10k.test)
    ds = read_dataset(convert_texmex(tmp_path / "base.bvecs", tmp_path / "query.fvecs",
                                     tmp_path / "bigann-128-euclidean.hdf5", progress=False))
    assert np.array_equal(ds.train, bigann10k.train)
    assert np.array_equal(ds.neighbors, bigann10k.neighbors)


def _idx_bytes(arr):
    header = bytes([0, 0, 0x08, arr.ndim]) + b"".join(
        int(s).to_bytes(4, "big") for s in arr.shape)
    return header + arr.astype(np.uint8).tobytes()


def test_idx_files_gz_and_raw(tmp_path):
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, (300, 6, 5))
    test = rng.integers(0, 256, (7, 6, 5))
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx_bytes(train)))
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(_idx_bytes(test))
    assert np.array_equal(read_idx(tmp_path / "t10k-images-idx3-ubyte"), test)
    ds = read_dataset(convert_idx(tmp_path / "train-images-idx3-ubyte.gz",
                                  tmp_path / "t10k-images-idx3-ubyte",
                                  tmp_path / "toy-30-euclidean.hdf5", progress=False))
    assert ds.train.shape == (300, 30) and ds.test.shape == (7, 30)
    d = np.sqrt(((ds.train[None].astype(float) - ds.test[:, None]) ** 2).sum(-1))
    assert np.array_equal(ds.neighbors[:, 0], d.argmin(axis=1))


def test_bad_idx_files(tmp_path):
    (tmp_path / "a").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="bad magic"):
        read_idx(tmp_path / "a")
    (tmp_path / "b").write_bytes(_idx_bytes(np.zeros((4, 3)))[:-2])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        read_idx(tmp_path / "b")
