"""ANNANN: annann.AnnannIndex (annann/learned/), the cluster index in a space learned by an autoencoder
refined by DEC (IDEC).

Training runs in a TensorFlow child process (kept tiny here: a few epochs, a few hundred DEC
steps); queries use a numpy encoder. Recall@10 is measured as ann-benchmarks does, against exact
ground truth. Run: python examples/annann_example.py [--data NAME_OR_PATH] [--n ROWS] [--epochs 5]
"""

import argparse
import sys
import time

from annann import AnnannIndex, first_rows, get_dataset, recall_of_ids
from annann.data.datasets import DEFAULT_DATASET

K = 10


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=DEFAULT_DATASET, help="dataset name or .hdf5 path")
    parser.add_argument("--n", type=int, default=None, help="use the first N train rows")
    parser.add_argument("--epochs", type=int, default=5, help="autoencoder training epochs")
    parser.add_argument("--C", type=int, default=16, help="clusters scanned per query")
    args = parser.parse_args()

    ds = first_rows(get_dataset(args.data), args.n)  # ground truth recomputed if cut
    train, queries, true_distances = ds.train, ds.test, ds.distances
    print(f"{ds.name}: {train.shape[0]} x {train.shape[1]} {ds.distance}, {len(queries)} queries")

    config = {"hidden": (64,), "code_dim": 16, "epochs": args.epochs, "dec": True, "gamma": 0.1,
              "max_iter": 200, "update_interval": 50, "train_sample": 5000, "progress": False}
    start = time.perf_counter()
    index = AnnannIndex(ds.distance, n_clusters=1.0, seed=0, train=config).fit(train)
    seconds = index.train_log["seconds"]
    print(f"built in {time.perf_counter() - start:.1f} s (autoencoder {seconds['stage1']:.1f} s, "
          f"DEC {seconds['stage2']:.1f} s): {len(index.cluster_sizes())} clusters in a "
          f"{index.encoder.code_dim}-d code space")
    print(f"TensorFlow imported in this process: {'tensorflow' in sys.modules}")

    ids, _ = index.search_batch(queries, K, C=args.C)
    recall = recall_of_ids(train, queries, true_distances, ids, ds.distance)
    print(f"recall@10 (C={args.C}): {recall:.3f}, "
          f"{index.last_stats['scanned'] / len(queries):.0f} candidates per query")


if __name__ == "__main__":
    main()
