"""Converters from original formats to the ann-benchmarks HDF5 layout.

texmex (SIFT1M/GIST1M): ``.fvecs`` / ``.bvecs`` / ``.ivecs``, each row an int32 dimension followed
by float32 / uint8 / int32 values. MNIST/Fashion-MNIST: ``idx`` files, optionally gzipped.
Ground truth is always recomputed exactly (blocked, float64 re-check).
"""

import gzip
from pathlib import Path

import numpy as np

from .datasets import build_dataset

# texmex extension -> (value dtype, bytes per value)
VECS_FORMATS = {".fvecs": (np.float32, 4), ".ivecs": (np.int32, 4), ".bvecs": (np.uint8, 1)}


def vecs_rows(path, raw, error=ValueError):
    """(rows, d, dtype) of a texmex file's bytes: rows (n, 4 + d * width) uint8, each an int32
    dimension then the values. Raises ``error`` unless the size is a whole number of rows."""
    dtype, width = VECS_FORMATS[path.suffix]
    if raw.size < 4:
        raise error(f"{path}: too short to be a {path.suffix} file")
    d = int(raw[:4].view(np.int32)[0])
    row = 4 + d * width
    if d <= 0 or raw.size % row:
        raise error(f"{path}: size {raw.size} is not a multiple of the row size {row} "
                    f"(dimension {d}); corrupt or not a {path.suffix} file")
    return raw.reshape(-1, row), d, dtype


def read_vecs(path, mmap=True):
    """Read a texmex .fvecs/.bvecs/.ivecs file as an (n, d) array (memory-mapped if mmap)."""
    path = Path(path)
    kind = VECS_FORMATS.get(path.suffix)
    if kind is None:
        raise ValueError(f"{path}: unknown texmex extension {path.suffix!r} "
                         "(expected .fvecs, .bvecs or .ivecs)")
    raw = np.memmap(path, dtype=np.uint8, mode="r") if mmap else np.fromfile(path, dtype=np.uint8)
    rows, d, dtype = vecs_rows(path, raw)
    dims = rows[:, :4].copy().view(np.int32).ravel()
    if (dims != d).any():
        raise ValueError(f"{path}: rows have differing dimensions (first {d}, "
                         f"then {int(dims[dims != d][0])})")
    return rows[:, 4:].view(dtype)


def write_vecs(path, X):
    """Write an (n, d) array as .fvecs/.bvecs/.ivecs (for tests and round trips)."""
    path = Path(path)
    dtype, _ = VECS_FORMATS[path.suffix]
    X = np.asarray(X, dtype=dtype)
    dims = np.full((X.shape[0], 1), X.shape[1], dtype=np.int32).view(np.uint8)
    np.concatenate([dims, X.view(np.uint8).reshape(X.shape[0], -1)], axis=1).tofile(path)


_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path):
    """Read an idx file (MNIST format, .gz or raw) into an array of its stated shape."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES:
        raise ValueError(f"{path}: not an idx file (bad magic number)")
    ndim = data[3]
    shape = tuple(int(x) for x in np.frombuffer(data, ">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_TYPES[data[2]])
    offset = 4 + 4 * ndim
    if len(data) - offset != int(np.prod(shape)) * dtype.itemsize:
        raise ValueError(f"{path}: holds {len(data) - offset} bytes of data, shape {shape} "
                         "needs a different size; truncated or corrupt")
    return np.frombuffer(data, dtype, offset=offset).reshape(shape)


def convert_texmex(base, query, out, distance="euclidean", count=100, progress=True):
    """Base + query texmex files -> ann-benchmarks HDF5 with exact ground truth."""
    train = read_vecs(base)
    test = np.asarray(read_vecs(query), dtype=np.float32)
    if train.shape[1] != test.shape[1]:
        raise ValueError(f"dimension mismatch: base {train.shape[1]}, query {test.shape[1]}")
    return build_dataset(out, train, test, distance, count, progress)


def convert_idx(train_images, test_images, out, distance="euclidean", count=100, progress=True):
    """MNIST-style idx image files -> flattened float32 vectors in the HDF5 layout."""
    train = read_idx(train_images)
    test = read_idx(test_images)
    train = train.reshape(train.shape[0], -1).astype(np.float32)
    test = test.reshape(test.shape[0], -1).astype(np.float32)
    if train.shape[1] != test.shape[1]:
        raise ValueError(f"dimension mismatch: train {train.shape[1]}, test {test.shape[1]}")
    return build_dataset(out, train, test, distance, count, progress)
