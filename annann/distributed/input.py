"""Chunked readers of vector files, so a data set larger than memory is read a row range at a time.

Formats: HDF5 (ann-benchmarks layout, dataset "train" or a named one), ``.npy`` (memory-mapped),
texmex ``.fvecs`` / ``.bvecs`` / ``.ivecs`` (int32 dimension + values per row, memory-mapped) and
zarr arrays (directory stores). ``open_source`` returns a small picklable object that a Dask task
can carry to any worker: it holds only the path and the shape, and opens the file on each read.
Every read is checked (finite values, consistent texmex row dimensions) and returned as float32,
unit-normalised rows for the angular metric.
"""

import hashlib
from pathlib import Path

import numpy as np

from ..core.distances import check_metric, normalize_rows
from ..data.convert import VECS_FORMATS, vecs_rows


class InputError(ValueError):
    """An input file is missing, unreadable, foreign, empty or holds bad values."""


class VectorSource:
    """Base of the readers: n rows of dim values, read by row range as float32."""

    kind = "abstract"

    def __init__(self, path, dataset=None, metric="euclidean"):
        self.path = Path(path).resolve()
        self.dataset = dataset
        self.metric = check_metric(metric)
        if not self.path.exists():
            raise InputError(f"{self.path}: no such input file")
        self.n, self.dim = self._shape()
        if self.n == 0:
            raise InputError(f"{self._where()}: is empty (0 rows)")
        if self.dim == 0:
            raise InputError(f"{self._where()}: has 0 dimensions")

    def _where(self):
        return f"{self.path}" + (f"[{self.dataset}]" if self.dataset else "")

    def _shape(self):
        raise NotImplementedError

    def _raw(self, lo, hi):
        raise NotImplementedError

    def read(self, lo, hi):
        """Rows lo..hi-1 as a C-contiguous float32 array; raise InputError on NaN/inf."""
        if not 0 <= lo < hi <= self.n:
            raise InputError(f"{self._where()}: row range [{lo}, {hi}) outside [0, {self.n})")
        X = np.ascontiguousarray(self._raw(lo, hi), dtype=np.float32)
        if X.shape != (hi - lo, self.dim):
            raise InputError(f"{self._where()}: read {X.shape} for rows [{lo}, {hi}), "
                             f"expected ({hi - lo}, {self.dim})")
        finite = np.isfinite(X).all(axis=1)
        if not finite.all():
            raise InputError(f"{self._where()}: contains NaN or inf (first in row "
                             f"{lo + int(np.flatnonzero(~finite)[0])})")
        return normalize_rows(X) if self.metric == "angular" else X

    def fingerprint(self):
        """What identifies this input for checkpoints: path, kind, shape, size and a content hash
        of the first and last rows (cheap, and changes when the file is replaced)."""
        h = hashlib.sha256()
        for lo, hi in ((0, min(self.n, 64)), (max(0, self.n - 64), self.n)):
            h.update(np.ascontiguousarray(self._raw(lo, hi), dtype=np.float32).tobytes())
        size = (sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file())
                if self.path.is_dir() else self.path.stat().st_size)
        return {"path": str(self.path), "kind": self.kind, "dataset": self.dataset,
                "n": int(self.n), "dim": int(self.dim), "bytes": int(size),
                "metric": self.metric, "content_sha256": h.hexdigest()}


class HDF5Source(VectorSource):
    """A 2-D numeric dataset of an HDF5 file (default "train", the ann-benchmarks layout)."""

    kind = "hdf5"

    def __init__(self, path, dataset=None, metric="euclidean"):
        super().__init__(path, dataset or "train", metric)

    def _open(self):
        import h5py

        try:
            return h5py.File(self.path, "r")
        except OSError as exc:
            raise InputError(f"{self.path}: not a readable HDF5 file ({exc})") from exc

    def _shape(self):
        with self._open() as f:
            if self.dataset not in f:
                raise InputError(f"{self.path}: has no dataset {self.dataset!r} "
                                 f"(has: {', '.join(sorted(f.keys())) or 'nothing'})")
            d = f[self.dataset]
            if not hasattr(d, "shape") or len(d.shape) != 2:
                raise InputError(f"{self._where()}: expected a 2-D dataset, got shape "
                                 f"{getattr(d, 'shape', None)}")
            _check_numeric(d.dtype, self._where())
            return int(d.shape[0]), int(d.shape[1])

    def _raw(self, lo, hi):
        with self._open() as f:
            return f[self.dataset][lo:hi]


class NpySource(VectorSource):
    """A 2-D ``.npy`` array, memory-mapped."""

    kind = "npy"

    def _array(self):
        try:
            return np.load(self.path, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise InputError(f"{self.path}: not a readable .npy file ({exc})") from exc

    def _shape(self):
        A = self._array()
        if A.ndim != 2:
            raise InputError(f"{self.path}: expected a 2-D array, got shape {A.shape}")
        _check_numeric(A.dtype, str(self.path))
        return int(A.shape[0]), int(A.shape[1])

    def _raw(self, lo, hi):
        return self._array()[lo:hi]


class VecsSource(VectorSource):
    """texmex ``.fvecs`` / ``.bvecs`` / ``.ivecs``: each row an int32 dimension then its values."""

    kind = "vecs"

    def _layout(self):
        raw = np.memmap(self.path, dtype=np.uint8, mode="r") if self.path.stat().st_size else \
            np.zeros(0, np.uint8)
        return vecs_rows(self.path, raw, InputError)

    def _shape(self):
        if self.path.suffix not in VECS_FORMATS:
            raise InputError(f"{self.path}: unknown texmex extension {self.path.suffix!r}")
        rows, d, _ = self._layout()
        return rows.shape[0], d

    def _raw(self, lo, hi):
        rows, d, dtype = self._layout()
        block = np.array(rows[lo:hi])
        dims = block[:, :4].copy().view(np.int32).ravel()
        if (dims != d).any():
            bad = int(np.flatnonzero(dims != d)[0])
            raise InputError(f"{self.path}: row {lo + bad} has dimension {int(dims[bad])}, "
                             f"the file's first row {d}; corrupt file")
        return block[:, 4:].copy().view(dtype)


class ZarrSource(VectorSource):
    """A 2-D zarr array (a directory store; ``dataset`` names the array inside a group)."""

    kind = "zarr"

    def _array(self):
        import zarr

        try:
            node = zarr.open(str(self.path), mode="r")
        except Exception as exc:  # zarr raises several types for foreign directories
            raise InputError(f"{self.path}: not a readable zarr store ({exc})") from exc
        if self.dataset is not None:
            if not hasattr(node, "keys") or self.dataset not in node:
                raise InputError(f"{self.path}: has no array {self.dataset!r}")
            node = node[self.dataset]
        if not hasattr(node, "dtype"):
            raise InputError(f"{self.path}: is a zarr group; name the array with dataset=")
        return node

    def _shape(self):
        A = self._array()
        if len(A.shape) != 2:
            raise InputError(f"{self._where()}: expected a 2-D array, got shape {A.shape}")
        _check_numeric(A.dtype, self._where())
        return int(A.shape[0]), int(A.shape[1])

    def _raw(self, lo, hi):
        return self._array()[lo:hi]


def _check_numeric(dtype, where):
    if not (np.issubdtype(dtype, np.number) or dtype == np.bool_) or \
            np.issubdtype(dtype, np.complexfloating):
        raise InputError(f"{where}: expected numbers, got dtype {dtype}")


def _is_zarr(path):
    return path.is_dir() and any((path / m).exists() for m in ("zarr.json", ".zarray", ".zgroup"))


def open_source(path, dataset=None, metric="euclidean"):
    """A chunked reader for path, chosen by its extension (zarr: by its metadata files)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such input file")
    if _is_zarr(path):
        return ZarrSource(path, dataset, metric)
    suffix = path.suffix.lower()
    if suffix in (".hdf5", ".h5", ".hdf"):
        return HDF5Source(path, dataset, metric)
    if suffix == ".npy":
        return NpySource(path, None, metric)
    if suffix in VECS_FORMATS:
        return VecsSource(path, None, metric)
    raise InputError(f"{path}: unknown input format {suffix or '(no extension)'!r}; expected "
                     ".hdf5/.h5, .npy, .fvecs/.bvecs/.ivecs or a zarr directory")


def row_ranges(n, chunk_rows):
    """[(lo, hi), ...] covering 0..n in chunks of chunk_rows rows."""
    return [(lo, min(lo + chunk_rows, n)) for lo in range(0, n, chunk_rows)]

