"""Atomic writes: build the new file or directory beside the target, then rename it over.

A crash leaves the previous version (or nothing), never half of a new one. The temp and backup
names carry the writer's process id (``.<name>.<pid>.tmp`` / ``.<name>.<pid>.old``): the next
write to the same path removes the leftovers of writers that are no longer running, and puts back
a backup that a crash left in place of a missing target.
"""

import os
import shutil
from contextlib import contextmanager
from pathlib import Path


def temp_path_for(path, kind="tmp"):
    """Temp name beside ``path``; it never ends in the target's suffix, so globs skip it."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.{kind}")


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove(p):
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    elif p.exists() or p.is_symlink():
        p.unlink()


def clean_stale(path):
    """Remove temp/backup entries of ``path`` left by writers that died; restore a lost target.

    Entries of live processes (another writer at work) are left alone.
    """
    path = Path(path)
    if not path.parent.is_dir():
        return
    for kind in ("old", "tmp"):
        for p in path.parent.glob(f".{path.name}.*.{kind}"):
            pid = p.name[len(path.name) + 2:-len(kind) - 1]
            if not pid.isdigit() or _pid_alive(int(pid)):
                continue
            if kind == "old" and not path.exists():
                os.replace(p, path)  # crashed between the two renames of a swap
            else:
                _remove(p)


@contextmanager
def atomic_path(path):
    """Yield a temp path; on success rename it to ``path``, on error delete it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(path)
    tmp = temp_path_for(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        if tmp.exists():
            _remove(tmp)
        raise


@contextmanager
def atomic_dir(path, may_replace):
    """Yield a new temp directory beside ``path``; on success swap it in, on error remove it.

    An existing ``path`` is replaced only if ``may_replace(path)`` says it is ours to replace,
    and only once the new directory is complete; a failed swap restores it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(path)
    if path.exists() and not may_replace(path):
        raise ValueError(f"{path}: exists and is not an annann index; refusing to replace it")
    tmp, old = temp_path_for(path), temp_path_for(path, "old")
    for p in (tmp, old):
        _remove(p)
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
    _remove(old)
