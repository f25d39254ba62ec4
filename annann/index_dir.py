"""Index directories: atomic save (temp dir + rename) and checked load (marker, version, checksums).

Layout: ``meta.json`` ({"format", "version", "files": {name: {"bytes", "sha256"}}, ...}) plus the
listed files. Every file is checksummed, so a truncated or altered file is refused with a clear
ValueError before any parser (numpy, hnswlib) sees it.
"""

from contextlib import contextmanager
import hashlib
import json
import os
import shutil
from pathlib import Path

META = "meta.json"


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


@contextmanager
def atomic_dir(path, marker):
    """Yield a temp directory beside ``path``; on success swap it in, on error remove it.

    An existing directory at ``path`` is replaced only if it holds ``marker`` (it is one of ours),
    and only after the new one is complete; a failed swap restores it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and not (path / marker).is_file():
        raise ValueError(f"{path}: exists and is not an index directory; refusing to replace")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    old = path.with_name(f".{path.name}.{os.getpid()}.old")
    for p in (tmp, old):
        if p.exists():
            shutil.rmtree(p)
    tmp.mkdir()
    try:
        yield tmp
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old.exists() and not path.exists():
            os.replace(old, path)
        raise
    shutil.rmtree(old, ignore_errors=True)


def write_index_dir(path, meta, writers):
    """Write ``writers`` ({file name: callable(path)}) and meta.json into a temp dir, then rename.

    An existing index at ``path`` is replaced only after the new one is complete.
    """
    with atomic_dir(path, META) as tmp:
        files = {}
        for name, write in writers.items():
            write(tmp / name)
            files[name] = {"bytes": os.path.getsize(tmp / name), "sha256": file_sha256(tmp / name)}
        with open(tmp / META, "w") as f:
            json.dump({**meta, "files": files}, f, indent=1, sort_keys=True)


def read_index_meta(path, fmt, version):
    """Check marker, version and every listed file's size and checksum; return meta."""
    path = Path(path)
    if not path.is_dir():
        raise ValueError(f"{path}: not an index directory")
    try:
        with open(path / META) as f:
            meta = json.load(f)
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: missing or corrupt {META} ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("format") != fmt:
        got = meta.get("format") if isinstance(meta, dict) else None
        raise ValueError(f"{path}: not a {fmt} index (format marker {got!r})")
    if meta.get("version") != version:
        raise ValueError(f"{path}: {fmt} version {meta.get('version')!r}, this code reads {version}")
    files = meta.get("files")
    if not isinstance(files, dict):
        raise ValueError(f"{path}: {META} lists no files")
    for name, info in files.items():
        f = path / name
        if not f.is_file():
            raise ValueError(f"{path}: file {name} is missing")
        if os.path.getsize(f) != info.get("bytes") or file_sha256(f) != info.get("sha256"):
            raise ValueError(f"{path}: file {name} is corrupt (size or checksum mismatch)")
    return meta
