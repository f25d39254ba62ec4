"""Neural LSH: annann.NeuralLshIndex (annann/learned/neural_lsh.py), the cluster index whose
clusters are the parts of the data's K-NN graph cut by METIS, routed by a small Keras MLP.

fit builds the K-NN graph (NN-descent from the LSH start), partitions it, trains the router in a
TensorFlow child process and stores each row in the part the router sends it to; a query scans the
router's top-C parts. Recall@10 is measured as ann-benchmarks does, against exact ground truth.
Run: python examples/neural_lsh_example.py [--data NAME_OR_PATH] [--n ROWS] [--epochs 8]
"""

import argparse
import sys
import time

from annann import NeuralLshIndex, first_rows, get_dataset, recall_of_ids
from annann.data.datasets import DEFAULT_DATASET

K = 10


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=DEFAULT_DATASET, help="dataset name or .hdf5 path")
    parser.add_argument("--n", type=int, default=None, help="use the first N train rows")
    parser.add_argument("--epochs", type=int, default=8, help="router training epochs")
    parser.add_argument("--C", type=int, default=16, help="parts scanned per query")
    args = parser.parse_args()

    ds = first_rows(get_dataset(args.data), args.n)  # ground truth recomputed if cut
    train, queries, true_distances = ds.train, ds.test, ds.distances
    print(f"{ds.name}: {train.shape[0]} x {train.shape[1]} {ds.distance}, {len(queries)} queries")

    start = time.perf_counter()
    index = NeuralLshIndex(ds.distance, n_parts=1.0, n_neighbors=10, seed=0,
                           router={"hidden": (128,), "epochs": args.epochs}).fit(train)
    log = index.train_log
    print(f"built in {time.perf_counter() - start:.1f} s: {log['n_parts']} parts, "
          f"{log['cut_fraction']:.0%} of the K-NN edges cut, router trained in "
          f"{log['router']['wall_seconds']:.1f} s")
    print(f"TensorFlow imported in this process: {'tensorflow' in sys.modules}")

    ids, _ = index.search_batch(queries, K, C=args.C)
    recall = recall_of_ids(train, queries, true_distances, ids, ds.distance)
    print(f"recall@10 (C={args.C}): {recall:.3f}, "
          f"{index.last_stats['scanned'] / len(queries):.0f} candidates per query")


if __name__ == "__main__":
    main()
