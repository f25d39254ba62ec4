"""Chunked readers of vector files, so a data set larger than memory is read a row range at a time.

Formats: HDF5 (ann-benchmarks layout, dataset "train" or a named one), ``.npy`` (memory-mapped),
texmex ``.fvecs`` / ``.bvecs`` / ``.ivecs`` (int32 dimension + values per row, memory-mapped) and
zarr arrays (directory stores). ``open_source`` returns a small picklable object that a Dask task
can carry to any worker: it holds only the path and the shape, and opens the file on each read.
Every read is checked (finite values, consistent texmex row dimensions) and returned as float32,
unit-normalised rows for the angular metric.

``read_rows`` reads scattered rows by id: through a memory map where the layout allows one
(``.npy``, texmex, contiguous uncompressed HDF5), so a task touches only the pages of its rows.
Inputs that cannot be mapped (compressed or chunked HDF5, zarr, dask arrays) are staged once as
per-chunk ``.npy`` files (``stage_chunk``, ``StagedSource``) beside the checkpoint.
"""

import hashlib
from pathlib import Path

import numpy as np

from ..core.atomic import atomic_path
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

    def memmap(self):
        """The raw rows as a read-only memory map, or None when the layout cannot be mapped."""
        return None

    def read(self, lo, hi):
        """Rows lo..hi-1 as a C-contiguous float32 array; raise InputError on NaN/inf."""
        if not 0 <= lo < hi <= self.n:
            raise InputError(f"{self._where()}: row range [{lo}, {hi}) outside [0, {self.n})")
        return self._checked(self._raw(lo, hi), np.arange(lo, hi))

    def read_rows(self, gids, block=65_536):
        """Rows gids (sorted int64 ids) as float32, checked like ``read``. Mapped layouts read
        only the rows' pages; the others read the blocks of ``block`` rows holding them."""
        gids = np.asarray(gids, dtype=np.int64)
        if gids.size and (gids[0] < 0 or gids[-1] >= self.n):
            raise InputError(f"{self._where()}: row ids outside [0, {self.n})")
        mapped = self.memmap()
        if mapped is not None:
            return self._checked(mapped[gids], gids)
        starts = np.arange(0, self.n, block)
        which = np.searchsorted(starts, gids, side="right") - 1
        cuts = np.flatnonzero(np.diff(which)) + 1
        pieces = [self._raw(starts[which[a]], min(starts[which[a]] + block, self.n))[
            gids[a:b] - starts[which[a]]] for a, b in zip(np.r_[0, cuts], np.r_[cuts, gids.size])
            if b > a]
        raw = np.concatenate(pieces) if pieces else np.zeros((0, self.dim), np.float32)
        return self._checked(raw, gids)

    def _checked(self, raw, gids):
        X = np.ascontiguousarray(raw, dtype=np.float32)
        if X.shape != (gids.shape[0], self.dim):
            raise InputError(f"{self._where()}: read {X.shape} for {gids.shape[0]} rows, "
                             f"expected ({gids.shape[0]}, {self.dim})")
        finite = np.isfinite(X).all(axis=1)
        if not finite.all():
            raise InputError(f"{self._where()}: contains NaN or inf (first in row "
                             f"{int(gids[np.flatnonzero(~finite)[0]])})")
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

    def memmap(self):
        """A map of the dataset's bytes when it is stored contiguous and uncompressed."""
        with self._open() as f:
            d = f[self.dataset]
            offset = d.id.get_offset() if d.chunks is None and d.compression is None else None
            if offset is None:
                return None
            return np.memmap(self.path, dtype=d.dtype, mode="r", offset=offset, shape=d.shape)


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

    def memmap(self):
        """The array itself (``np.load`` maps it)."""
        return self._array()


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
        return self._values(np.array(self._layout()[0][lo:hi]), np.arange(lo, hi))

    def _values(self, block, gids):
        _, d, dtype = self._layout()
        dims = block[:, :4].copy().view(np.int32).ravel()
        if (dims != d).any():
            bad = int(np.flatnonzero(dims != d)[0])
            raise InputError(f"{self.path}: row {int(gids[bad])} has dimension {int(dims[bad])}, "
                             f"the file's first row {d}; corrupt file")
        return block[:, 4:].copy().view(dtype)

    def read_rows(self, gids, block=65_536):
        """Rows gids (sorted int64 ids) through the file's memory map, checked like ``read``."""
        gids = np.asarray(gids, dtype=np.int64)
        if gids.size and (gids[0] < 0 or gids[-1] >= self.n):
            raise InputError(f"{self._where()}: row ids outside [0, {self.n})")
        return self._checked(self._values(self._layout()[0][gids], gids), gids)


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


class StagedSource(VectorSource):
    """Rows staged as one ``chunk_{c:06d}.npy`` per row range (already checked and normalised)."""

    kind = "staged"

    def __init__(self, folder, bounds, dim):
        self.bounds = [(int(lo), int(hi)) for lo, hi in bounds]
        self.starts = np.array([lo for lo, _ in self.bounds], dtype=np.int64)
        self.staged_dim = int(dim)
        super().__init__(folder, None, "euclidean")

    def _shape(self):
        return self.bounds[-1][1], self.staged_dim

    def chunk_path(self, c):
        """File of row range c."""
        return self.path / f"chunk_{c:06d}.npy"

    def _chunk(self, c):
        try:
            return np.load(self.chunk_path(c), mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise InputError(f"{self.chunk_path(c)}: unreadable staged rows ({exc})") from exc

    def _raw(self, lo, hi):
        return self.read_rows(np.arange(lo, hi))

    def read_rows(self, gids, block=None):
        """Rows gids (sorted int64 ids) from the mapped chunk files (staged rows are checked)."""
        gids = np.asarray(gids, dtype=np.int64)
        if gids.size and (gids[0] < 0 or gids[-1] >= self.n):
            raise InputError(f"{self._where()}: row ids outside [0, {self.n})")
        which = np.searchsorted(self.starts, gids, side="right") - 1
        out = np.empty((gids.shape[0], self.dim), dtype=np.float32)
        for c in np.unique(which):
            m = which == c
            out[m] = self._chunk(int(c))[gids[m] - self.starts[c]]
        return out

    def is_complete(self):
        """True if every chunk file is there with its shape (a resumed build reuses them)."""
        for c, (lo, hi) in enumerate(self.bounds):
            try:
                if self._chunk(c).shape != (hi - lo, self.dim):
                    return False
            except InputError:
                return False
        return True


def stage_chunk(read, lo, hi, path):
    """Write rows lo..hi-1 (read(lo, hi), or an array) to path atomically; returns its bytes."""
    X = read(lo, hi) if callable(read) else np.ascontiguousarray(read, dtype=np.float32)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, X)
    return int(X.nbytes)


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

