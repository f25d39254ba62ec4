"""Result files in the ann-benchmarks layout: results/<dataset>/<k>/<algo>[-batch]/<args>.hdf5.

Files are written to a temp name and renamed, so a file at the final path is always complete; files
left half-written by other tools are recognised by ``is_complete`` and never counted as finished.
The temp files of saves that were killed are removed by the next save or read of their folder.
"""

import json
import os
import re
from pathlib import Path

import h5py
import numpy as np

from annann.core.atomic import atomic_path, clean_stale_in

REQUIRED_ATTRS = ("algo", "dataset", "name", "distance", "count", "batch_mode", "run_count",
                  "build_time", "index_size", "best_search_time", "candidates", "expect_extra")


def result_filename(arguments, query_arguments):
    """The harness's file stem: the JSON of build + query args with non-word runs replaced by _."""
    data = list(arguments) + list(query_arguments)
    return re.sub(r"\W+", "_", json.dumps(data, sort_keys=True)).strip("_") + ".hdf5"


def result_path(results_dir, dataset, count, definition, query_arguments, batch=False):
    """Where the harness keeps the result of one definition and query arguments."""
    folder = definition.algorithm + ("-batch" if batch else "")
    return (Path(results_dir) / dataset / str(count) / folder
            / result_filename(definition.arguments, query_arguments))


def table_stem(dataset, count, batch):
    """The stem of a dataset's tables and plots beside the result tree (``<stem>.md``, ``.csv``,
    ``.png``): the dataset's name, ``-k<count>`` unless k is 10, ``-batch`` in batch mode."""
    return dataset + ("" if count == 10 else f"-k{count}") + ("-batch" if batch else "")


def store_results(path, attrs, neighbors, distances, times):
    """Write one result file atomically. neighbors/distances are (m, k), padded -1 / inf."""
    missing = [a for a in REQUIRED_ATTRS if a not in attrs]
    if missing:
        raise ValueError(f"result attrs missing: {', '.join(missing)}")
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            for key, value in attrs.items():
                f.attrs[key] = value
            f.create_dataset("times", data=np.asarray(times, dtype=np.float32))
            f.create_dataset("neighbors", data=np.asarray(neighbors, dtype=np.int32))
            f.create_dataset("distances", data=np.asarray(distances, dtype=np.float32))
    return path


def is_complete(path):
    """True if path is a readable result file with every attr and consistent datasets."""
    try:
        with h5py.File(path, "r") as f:
            if any(a not in f.attrs for a in ("name", "count", "best_search_time", "build_time")):
                return False
            if any(k not in f for k in ("times", "neighbors", "distances")):
                return False
            m, k = f["neighbors"].shape
            return f["distances"].shape == (m, k) and f["times"].shape == (m,) and m > 0
    except (OSError, KeyError, ValueError):
        return False


def iter_results(results_dir, dataset, count=None, batch=False):
    """Yield (path, attrs) for every complete result file of a dataset (ours or the harness's)."""
    base = Path(results_dir) / dataset
    if count is not None:
        base = base / str(count)
    if not base.is_dir():
        return
    for root, _, files in sorted(os.walk(base)):
        if clean_stale_in(root):  # leftovers of killed saves
            files = os.listdir(root)
        for fn in sorted(files):
            if not fn.endswith(".hdf5"):
                continue
            path = Path(root) / fn
            if not is_complete(path):
                continue
            with h5py.File(path, "r") as f:
                attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
            if bool(attrs.get("batch_mode", False)) != bool(batch):
                continue
            yield path, attrs


def load_result(path):
    """(attrs, neighbors, distances, times) of one result file."""
    with h5py.File(path, "r") as f:
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
        return attrs, f["neighbors"][:], f["distances"][:], f["times"][:]
