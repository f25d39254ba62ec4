"""The one on-disk format of every annann index: a directory of arrays and a JSON manifest.

Layout of an index directory::

    index.json     {"format": "annann-index", "version": 2, "class": "ClusterIndex",
                    "params": {...}, "state": {...},
                    "arrays": {name: {"file", "shape", "dtype", "bytes", "sha256"}},
                    "files": {name: {"bytes", "sha256"}}}
    <name>.npy     one file per array (``np.save``, never pickled)
    <other>        opaque files a library writes itself (hnswlib's graph)

``IndexWriter`` fills a temp directory beside the target and swaps it in atomically when every
file is complete (the old index stays until then). ``read_index`` checks the manifest, the class
and every file's size and checksum before any parser sees a byte, and names what is wrong: a
foreign directory, an index written by an older annann (rebuild it), another class, a missing,
truncated or altered file.
"""

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from .atomic import atomic_dir, clean_stale

FORMAT = "annann-index"
VERSION = 2
MANIFEST = "index.json"

# Layouts of annann 0.1 (before the one format): recognised only to say "rebuild".
_LEGACY = {"meta.json": "a ClusterIndex directory (annann 0.1, meta.json)",
           "annann.json": "an AnnannIndex directory (annann 0.1, annann.json)"}


class IndexFormatError(ValueError):
    """A path is not a readable annann index of the expected class and version."""


def file_sha256(path, chunk=1 << 22):
    """Hex SHA-256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def _file_entry(path):
    return {"bytes": os.path.getsize(path), "sha256": file_sha256(path)}


def _is_index(path):
    return (Path(path) / MANIFEST).is_file()


class IndexWriter:
    """Context manager that writes one index directory atomically.

    ``add_array`` stores an array, ``new_array`` returns a writable memory-mapped .npy to fill
    block by block (data larger than memory), ``file_path`` names an opaque file to write;
    ``state`` holds small JSON values beside the constructor ``params``.
    """

    def __init__(self, path, cls, params, state=None):
        self.path, self.cls = Path(path), str(cls)
        self.params, self.state = dict(params), dict(state or {})
        self._arrays, self._files, self._maps = {}, [], []

    def __enter__(self):
        self._swap = atomic_dir(self.path, _is_index)
        self.dir = self._swap.__enter__()
        return self

    def _array_file(self, name):
        if name in self._arrays or not name or "/" in name:
            raise ValueError(f"index array name {name!r}: empty, nested or given twice")
        self._arrays[name] = f"{name}.npy"
        return self.dir / self._arrays[name]

    def add_array(self, name, array):
        """Store a numpy array under name."""
        with open(self._array_file(name), "wb") as f:
            np.save(f, np.asarray(array), allow_pickle=False)

    def new_array(self, name, shape, dtype):
        """A writable memory-mapped array of the given shape, stored under name on exit."""
        arr = np.lib.format.open_memmap(self._array_file(name), mode="w+", dtype=dtype,
                                        shape=tuple(int(s) for s in shape))
        self._maps.append(arr)
        return arr

    def file_path(self, name):
        """Path of an opaque file (written by the caller) that becomes part of the index."""
        if name == MANIFEST or name in self._files or name.endswith(".npy"):
            raise ValueError(f"index file name {name!r} is reserved or given twice")
        self._files.append(name)
        return self.dir / name

    def __exit__(self, kind, exc, tb):
        if kind is None:
            try:
                self._finish()
            except BaseException as err:
                self._swap.__exit__(type(err), err, err.__traceback__)
                raise
        return self._swap.__exit__(kind, exc, tb)

    def _finish(self):
        for arr in self._maps:
            arr.flush()
        self._maps.clear()
        arrays = {}
        for name, fname in self._arrays.items():
            a = np.load(self.dir / fname, mmap_mode="r", allow_pickle=False)
            arrays[name] = {"file": fname, "shape": list(a.shape), "dtype": a.dtype.str,
                            **_file_entry(self.dir / fname)}
            del a
        files = {}
        for name in self._files:
            if not (self.dir / name).is_file():
                raise ValueError(f"index file {name} was announced but not written")
            files[name] = _file_entry(self.dir / name)
        manifest = {"format": FORMAT, "version": VERSION, "class": self.cls,
                    "params": self.params, "state": self.state, "arrays": arrays, "files": files}
        with open(self.dir / MANIFEST, "w") as f:
            json.dump(manifest, f, indent=1, sort_keys=True)


class StoredIndex:
    """A checked index directory: its params, state, arrays and files."""

    def __init__(self, path, manifest):
        self.path, self.manifest = Path(path), manifest
        self.params, self.state = manifest["params"], manifest["state"]

    def array(self, name, shape=None, dtype=None, mmap=False):
        """Array ``name``; with shape / dtype, refuse one that differs (IndexFormatError)."""
        info = self.manifest["arrays"].get(name)
        if info is None:
            raise IndexFormatError(f"{self.path}: index lacks the array {name!r}")
        try:
            a = np.load(self.path / info["file"], mmap_mode="r" if mmap else None,
                        allow_pickle=False)
        except Exception as exc:
            raise IndexFormatError(f"{self.path}: cannot read array {name} ({exc})") from exc
        if (shape is not None and a.shape != tuple(shape)) or \
                (dtype is not None and a.dtype != np.dtype(dtype)):
            raise IndexFormatError(f"{self.path}: array {name} is {a.shape} {a.dtype}, expected "
                                   f"{tuple(shape) if shape is not None else a.shape} "
                                   f"{np.dtype(dtype) if dtype is not None else a.dtype}")
        return a

    def arrays(self, prefix):
        """{name without prefix: array} of every array whose name starts with prefix."""
        return {n[len(prefix):]: self.array(n) for n in self.manifest["arrays"]
                if n.startswith(prefix)}

    def file(self, name):
        """Path of an opaque file of the index."""
        if name not in self.manifest["files"]:
            raise IndexFormatError(f"{self.path}: index lacks the file {name!r}")
        return self.path / name


def _legacy(path):
    """What an annann 0.1 index at path was, or None."""
    if path.is_dir():
        for marker, what in _LEGACY.items():
            if (path / marker).is_file():
                return what
        return None
    try:
        with open(path, "rb") as f:
            if f.read(8) == b"\x89HDF\r\n\x1a\n":
                return "an HDF5 file (annann 0.1 wrote distributed K-NN graphs as HDF5)"
        with np.load(path, allow_pickle=False) as z:
            header = str(z["header"]) if "header" in z.files else ""
    except Exception:
        return None
    return "a KNNGraphIndex file (annann 0.1, .npz)" if "KNNGraphIndex" in header else None


def read_index(path, cls):
    """Open the index directory ``path`` holding a ``cls`` index; check every file; return a
    StoredIndex. IndexFormatError (a ValueError) names what is wrong. Leftovers of a killed save
    of this path are cleaned first (and a target lost between the two renames of a swap is put
    back), as far as this process may write there."""
    path = Path(path)
    clean_stale(path, best_effort=True)
    if not path.exists():
        raise IndexFormatError(f"{path}: no such index")
    legacy = _legacy(path)
    if legacy is not None:
        raise IndexFormatError(f"{path}: {legacy}; this annann reads index format {VERSION} "
                               "only: rebuild the index (fit and save it again)")
    if not path.is_dir():
        raise IndexFormatError(f"{path}: not an annann index directory")
    try:
        with open(path / MANIFEST) as f:
            manifest = json.load(f)
    except FileNotFoundError as exc:
        raise IndexFormatError(f"{path}: not an annann index ({MANIFEST} missing)") from exc
    except (OSError, ValueError) as exc:
        raise IndexFormatError(f"{path}: corrupt {MANIFEST} ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        got = manifest.get("format") if isinstance(manifest, dict) else None
        raise IndexFormatError(f"{path}: not an annann index (format marker {got!r})")
    if manifest.get("version") != VERSION:
        raise IndexFormatError(f"{path}: index format version {manifest.get('version')!r}, this "
                               f"annann reads {VERSION}: rebuild the index")
    if manifest.get("class") != cls:
        raise IndexFormatError(f"{path}: holds a {manifest.get('class')!r} index, not a {cls}")
    listed = manifest.get("arrays"), manifest.get("files")
    if not all(isinstance(x, dict) for x in listed) or \
            not all(isinstance(manifest.get(k), dict) for k in ("params", "state")):
        raise IndexFormatError(f"{path}: corrupt {MANIFEST} (arrays, files, params or state)")
    for name, info in [*listed[0].items(), *listed[1].items()]:
        f = path / (info.get("file", name) if isinstance(info, dict) else name)
        if not f.is_file():
            raise IndexFormatError(f"{path}: file {f.name} is missing")
        if os.path.getsize(f) != info.get("bytes") or file_sha256(f) != info.get("sha256"):
            raise IndexFormatError(f"{path}: file {f.name} is corrupt (size or checksum "
                                   "mismatch)")
    return StoredIndex(path, manifest)
