"""Inside an image built from install-plugin's Dockerfile, with the harness checkout mounted at
/home/app/ann_benchmarks: build annann-raw through the harness's module path and measure recall."""
import h5py
import numpy as np

from ann_benchmarks.algorithms.annann_raw.module import AnnannRaw
from ann_benchmarks.algorithms.base.module import BaseANN

with h5py.File("/home/app/data/sift-128-euclidean.hdf5", "r") as f:
    train, test, truth = f["train"][:], f["test"][:], f["neighbors"][:, :10]
algo = AnnannRaw("euclidean", {"n_clusters": 1.0})
assert isinstance(algo, BaseANN)
algo.fit(train)
algo.set_query_arguments(32)
hits = [len(set(np.asarray(algo.query(q, 10)).tolist()) & set(t.tolist())) for q, t in zip(test, truth)]
recall = sum(hits) / truth.size
print(f"plugin image: {algo} recall@10 {recall:.3f}")
assert recall > 0.9, recall
