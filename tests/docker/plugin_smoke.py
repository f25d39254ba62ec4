"""Inside an image built from install-plugin's Dockerfile of one folder (argv[1]: annann_raw,
knngraph or annann), run in a harness checkout (the image's /home/app, its cwd): build the
folder's first algorithm through the harness's module path as the harness does (constructor, then
build time and RSS growth around fit), measure recall@10 and say whether TensorFlow is installed
and whether fit compiled any numba kernel (it must not: the image's cache or the constructor's
warm-up serve them)."""
import importlib
import importlib.util
import sys
import time

import h5py
import numpy as np
import psutil
from numba.core.registry import CPUDispatcher

FOLDERS = {"annann_raw": ("AnnannRaw", {"n_clusters": 4.0, "r": 1}, (32,)),
           "knngraph": ("KnnGraphLSH", {"n_neighbors": 20, "lsh_tables": 8, "bucket_size": 32},
                        (64,)),
           "annann": ("Annann", {"n_clusters": 1.0, "code_dim": 32, "dec": False,
                                 "knn_weight": 1.0}, (32,))}
folder = sys.argv[1]
constructor, params, query_args = FOLDERS[folder]
module = importlib.import_module(f"ann_benchmarks.algorithms.{folder}.module")
base = importlib.import_module("ann_benchmarks.algorithms.base.module")


def signatures():
    return sum(len(v.signatures) for name, m in list(sys.modules.items())
               if name.startswith("annann.") for v in vars(m).values()
               if isinstance(v, CPUDispatcher))


with h5py.File("data/sift-128-euclidean.hdf5", "r") as f:  # the checkout is the cwd
    train, test, truth = f["train"][:], f["test"][:], f["neighbors"][:, :10]
t0 = time.time()
algo = getattr(module, constructor)("euclidean", params)
t_construct = time.time() - t0
assert isinstance(algo, base.BaseANN)
compiled, mem0, t0 = signatures(), psutil.Process().memory_info().rss / 1024, time.time()
algo.fit(train)
build, index_kb = time.time() - t0, psutil.Process().memory_info().rss / 1024 - mem0
compiled = signatures() - compiled
algo.set_query_arguments(*query_args)
hits = [len(set(np.asarray(algo.query(q, 10)).tolist()) & set(t.tolist()))
        for q, t in zip(test, truth)]
recall = sum(hits) / truth.size
tf = "yes" if importlib.util.find_spec("tensorflow") else "no"
print(f"{folder}: {algo} recall@10 {recall:.3f}; constructor {t_construct:.1f} s, build "
      f"{build:.2f} s, index {index_kb:.0f} kB, kernels compiled in fit {compiled}; "
      f"TensorFlow installed: {tf}")
assert recall > 0.9, recall
assert compiled == 0, f"{compiled} kernels compiled inside fit"
