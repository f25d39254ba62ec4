"""Round checkpoints of the distributed K-NN graph build: shard files plus a manifest.

After round r every shard (a row range) of the graph is a file ``r{r:04d}/shard_{c:06d}.npz``
(heap ids, squared distances, new-flags), written atomically by the task that merged it; then the
client writes ``manifest.json`` atomically, naming the input (fingerprint), the settings and r. A
resumed build reads the manifest, refuses it if the input or settings differ, and starts at round
r + 1 from the shard files. The next round reads its shards from these files, so a lost worker
never forces Dask to recompute earlier rounds.
"""

import json
import shutil
from pathlib import Path

import numpy as np

from ..core.atomic import atomic_path

FORMAT = "annann.distributed_build.checkpoint/2"
MANIFEST = "manifest.json"


class CheckpointError(ValueError):
    """A checkpoint is unreadable or belongs to another input or other settings."""


def round_dir(ckpt_dir, round_no):
    """Folder of the shard files of one round."""
    return Path(ckpt_dir) / f"r{round_no:04d}"


def shard_path(ckpt_dir, round_no, chunk):
    """Path of one shard file."""
    return round_dir(ckpt_dir, round_no) / f"shard_{chunk:06d}.npy"


def shard_dtype(pool):
    """Record of one row: pool ids, squared distances and flags."""
    return np.dtype([("ids", np.int32, (pool,)), ("dists", np.float32, (pool,)),
                     ("flags", np.uint8, (pool,))])


def save_shard(path, ids, dists, flags):
    """Write one shard atomically; returns its size in bytes."""
    rec = np.empty(ids.shape[0], dtype=shard_dtype(ids.shape[1]))
    rec["ids"], rec["dists"], rec["flags"] = ids, dists, flags
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, rec)
    return Path(path).stat().st_size


def _mapped(path):
    try:
        rec = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise CheckpointError(f"{path}: unreadable checkpoint shard ({exc})") from exc
    if rec.ndim != 1 or rec.dtype.names != ("ids", "dists", "flags"):
        raise CheckpointError(f"{path}: corrupt checkpoint shard (dtype {rec.dtype})")
    return rec


def load_shard(path, rows=None):
    """(ids int32, squared distances float32, flags uint8) of a shard file, or of its rows."""
    rec = _mapped(path)
    rec = np.asarray(rec if rows is None else rec[rows])
    return (np.ascontiguousarray(rec["ids"]), np.ascontiguousarray(rec["dists"]),
            np.ascontiguousarray(rec["flags"]))


def load_rows(paths, starts, gids, pool):
    """(ids, dists, flags) of the rows gids (sorted global ids) from the shards of one round."""
    ids = np.empty((gids.shape[0], pool), dtype=np.int32)
    dists = np.empty((gids.shape[0], pool), dtype=np.float32)
    flags = np.empty((gids.shape[0], pool), dtype=np.uint8)
    which = np.searchsorted(starts, gids, side="right") - 1
    for c in np.unique(which):
        m = which == c
        ids[m], dists[m], flags[m] = load_shard(paths[c], gids[m] - starts[c])
    return ids, dists, flags


def read_manifest(ckpt_dir):
    """The manifest dict, or None if there is no checkpoint."""
    path = Path(ckpt_dir) / MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: unreadable checkpoint manifest ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a distributed-build checkpoint manifest")
    return manifest


def write_manifest(ckpt_dir, input_fp, settings, round_no, converged, history):
    """Record that round_no is complete (atomically: a crash leaves the previous manifest)."""
    manifest = {"format": FORMAT, "input": input_fp, "settings": settings, "round": round_no,
                "converged": bool(converged), "history": history}
    with atomic_path(Path(ckpt_dir) / MANIFEST) as tmp:
        tmp.write_text(json.dumps(manifest, indent=1))
    return manifest


def check_compatible(manifest, input_fp, settings, ckpt_dir):
    """Raise CheckpointError naming the first difference in input or settings."""
    for what, theirs, ours in (("input", manifest.get("input"), input_fp),
                               ("settings", manifest.get("settings"), settings)):
        theirs = theirs or {}
        for key in sorted(set(theirs) | set(ours)):
            if theirs.get(key) != ours.get(key):
                raise CheckpointError(
                    f"{ckpt_dir}: checkpoint was written for different {what} ({key}: "
                    f"{theirs.get(key)!r} in the checkpoint, {ours.get(key)!r} now); delete it "
                    "or build without --resume")


def clear_checkpoint(ckpt_dir):
    """Remove the manifest, the round folders and the staged input of a checkpoint (nothing else
    in ckpt_dir)."""
    ckpt_dir = Path(ckpt_dir)
    if (ckpt_dir / MANIFEST).exists():
        (ckpt_dir / MANIFEST).unlink()
    shutil.rmtree(ckpt_dir / "input", ignore_errors=True)
    for d in ckpt_dir.glob("r[0-9][0-9][0-9][0-9]"):
        shutil.rmtree(d, ignore_errors=True)


def drop_rounds_before(ckpt_dir, round_no):
    """Delete the shard folders of rounds older than round_no (superseded by a newer manifest)."""
    for d in Path(ckpt_dir).glob("r[0-9][0-9][0-9][0-9]"):
        if int(d.name[1:]) < round_no:
            shutil.rmtree(d, ignore_errors=True)
