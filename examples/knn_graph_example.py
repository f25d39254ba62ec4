"""The K-NN graph: annann.KNNGraphIndex (annann/graph/: NN-descent from an LSH start) and, for
comparison, annann.LSHIndex (the variable-length LSH alone, re-ranking its buckets).

Prints the graph's quality against the exact K-NN graph and the recall@10 of both searches,
measured as ann-benchmarks does. Run: python examples/knn_graph_example.py [--data NAME_OR_PATH]
[--n ROWS] [--beam 64]
"""

import argparse
import time

import numpy as np

from annann import KNNGraphIndex, LSHIndex, first_rows, get_dataset, recall_of_ids
from annann.data.datasets import DEFAULT_DATASET

K = 10


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=DEFAULT_DATASET, help="dataset name or .hdf5 path")
    parser.add_argument("--n", type=int, default=None, help="use the first N train rows")
    parser.add_argument("--beam", type=int, default=64, help="search beam width")
    args = parser.parse_args()

    ds = first_rows(get_dataset(args.data), args.n)  # ground truth recomputed if cut
    train, queries, true_distances = ds.train, ds.test, ds.distances
    print(f"{ds.name}: {train.shape[0]} x {train.shape[1]} {ds.distance}, {len(queries)} queries")

    start = time.perf_counter()
    graph = KNNGraphIndex(ds.distance, n_neighbors=20, init="lsh", seed=0).fit(train)
    stats = graph.last_stats
    print(f"K-NN graph built in {time.perf_counter() - start:.2f} s ({stats['iterations']} "
          f"NN-descent iterations, {stats['dist_evals']} distance evaluations)")
    print(f"graph recall (vs the exact 20-NN graph, 500 sampled nodes): "
          f"{graph.graph_recall(n_sample=500):.3f}")
    ids, _ = graph.search_batch(queries, K, beam=args.beam)
    recall = recall_of_ids(train, queries, true_distances, ids, ds.distance)
    print(f"recall@10 (graph search, beam={args.beam}): {recall:.3f}")

    lsh = LSHIndex(ds.distance, n_tables=8, bucket_size=64, seed=0).fit(train)
    found, candidates = [], []
    for q in queries:  # per table, the deepest trie node holding >= min_candidates points
        found.append(lsh.search(q, K, min_candidates=256)[0])
        candidates.append(lsh.last_candidates)
    recall = recall_of_ids(train, queries, true_distances, found, ds.distance)
    print(f"recall@10 (LSH alone, {np.mean(candidates):.0f} candidates per query): {recall:.3f}")


if __name__ == "__main__":
    main()
