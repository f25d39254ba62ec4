"""Atomic file writes: write to a temp file beside the target, then rename over it."""

import os
from contextlib import contextmanager
from pathlib import Path


def temp_path_for(path):
    """Temp name beside ``path``; it never ends in the target's suffix, so globs skip it."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


@contextmanager
def atomic_path(path):
    """Yield a temp path; on success rename it to ``path``, on error delete it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_for(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        if tmp.exists():
            tmp.unlink()
        raise
