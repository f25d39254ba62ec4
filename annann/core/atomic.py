"""Atomic writes: build the new file or directory beside the target, then rename it over.

A crash leaves the previous version (or nothing), never half of a new one. The temp and backup
names carry the writer's process id (``.<name>.<pid>.tmp`` / ``.<name>.<pid>.old``): the next
write to the same path removes the leftovers of writers that are no longer running, and puts back
a backup that a crash left in place of a missing target; readers call ``clean_stale`` (one path)
or ``clean_stale_in`` (a whole folder) before they read, so a killed save is cleaned up by the next
save or load of that path.
"""

import os
import re
import shutil
from contextlib import contextmanager
from pathlib import Path


def temp_path_for(path, kind="tmp"):
    """Temp name beside ``path``; it never ends in the target's suffix, so globs skip it."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.{kind}")


def _pid_alive(pid):
    """True if process pid runs (a zombie, dead but not yet reaped, counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):  # no /proc (not Linux), or the process just went
        return True


def _remove(p):
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    elif p.exists() or p.is_symlink():
        p.unlink()


_ENTRY = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.(?P<kind>tmp|old)$")


def _stale_entries(folder, name=None):
    """(entry, target, kind) of every temp/backup entry in folder whose writer is dead; ``name``
    keeps only the entries of that target. Backups come first: one may restore a lost target."""
    try:
        listing = sorted(os.listdir(folder))
    except OSError:
        return []
    found = []
    for entry in listing:
        m = _ENTRY.match(entry)
        if m is None or (name is not None and m["name"] != name) or _pid_alive(int(m["pid"])):
            continue
        found.append((Path(folder) / entry, Path(folder) / m["name"], m["kind"]))
    return sorted(found, key=lambda e: e[2] != "old")


def _clean(entries):
    removed = []
    for entry, target, kind in entries:
        if kind == "old" and not (target.exists() or target.is_symlink()):
            os.replace(entry, target)  # crashed between the two renames of a swap
        else:
            _remove(entry)
        removed.append(entry)
    return removed


def clean_stale(path, best_effort=False):
    """Remove temp/backup entries of ``path`` left by writers that died; restore a lost target.

    Entries of live processes (another writer at work) are left alone. Returns the entries
    handled. ``best_effort`` (for readers, which may lack write access): errors are ignored.
    """
    path = Path(path)
    try:
        return _clean(_stale_entries(path.parent, path.name))
    except OSError:
        if best_effort:
            return []
        raise


def clean_stale_in(folder, best_effort=True):
    """clean_stale for every target in ``folder`` (readers of a folder of results call it)."""
    try:
        return _clean(_stale_entries(folder))
    except OSError:
        if best_effort:
            return []
        raise


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
