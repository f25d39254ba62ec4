"""The raw-space baseline: annann.ClusterIndex (annann/ivf/: IVF, HNSW over k-means centroids).

Builds on 90 % of the rows, inserts the rest without a rebuild, searches, deletes a few ids, then
saves and reloads the index. Recall@10 is measured as ann-benchmarks does, against exact ground
truth. Run: python examples/raw_cluster_index_example.py [--data NAME_OR_PATH] [--n ROWS] [--C 16]
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from annann import ClusterIndex, first_rows, get_dataset, recall_of_ids
from annann.data.datasets import DEFAULT_DATASET

K = 10


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=DEFAULT_DATASET, help="dataset name or .hdf5 path")
    parser.add_argument("--n", type=int, default=None, help="use the first N train rows")
    parser.add_argument("--C", type=int, default=16, help="clusters scanned per query")
    args = parser.parse_args()

    ds = first_rows(get_dataset(args.data), args.n)  # ground truth recomputed if cut
    train, queries, true_distances = ds.train, ds.test, ds.distances
    n = train.shape[0]
    print(f"{ds.name}: {n} x {train.shape[1]} {ds.distance}, {len(queries)} queries")

    start = time.perf_counter()
    split = int(0.9 * n)
    index = ClusterIndex(ds.distance, n_clusters=1.0, seed=0).fit(train[:split])  # ids 0..split-1
    index.add(train[split:], np.arange(split, n))  # inserted into the existing clusters
    print(f"built on {split} rows and added {n - split} in {time.perf_counter() - start:.2f} s: "
          f"{index.n_clusters_} clusters, {index.size} vectors")

    ids, _ = index.search_batch(queries, K, C=args.C)
    recall = recall_of_ids(train, queries, true_distances, ids, ds.distance)
    print(f"recall@10 (C={args.C}): {recall:.3f}, "
          f"{index.last_stats['scanned'] / len(queries):.0f} candidates per query")

    gone = np.unique(ids[:, 0])  # delete every query's nearest neighbour
    index.remove(gone)
    after, _ = index.search_batch(queries, K, C=args.C)
    assert not np.isin(after, gone).any()
    print(f"removed {gone.size} ids: none is returned any more, {index.size} vectors left")

    with tempfile.TemporaryDirectory() as tmp:
        index.save(Path(tmp) / "raw.idx")
        loaded = ClusterIndex.load(Path(tmp) / "raw.idx")
        same = np.array_equal(loaded.search_batch(queries, K, C=args.C)[0], after)
    print(f"saved and loaded: {loaded.size} vectors, identical results: {same}")


if __name__ == "__main__":
    main()
