"""``annann-bench build-graph``: arguments, cluster set-up and the run of the distributed build.

``--scheduler local`` starts a LocalCluster of ``--workers`` processes (one thread each, numba runs
one task per process) with ``--memory-limit`` each; any other value is a scheduler address. Dask
is imported only here, so the rest of the CLI works without the ``dist`` extra.
"""

import importlib.util
import sys

from .args import nonnegative_int, positive_int


def add_arguments(p):
    """The build-graph options (numeric ones range-checked; the help names each default)."""
    p.add_argument("--input", required=True,
                   help=".hdf5/.h5 (dataset 'train' or --dataset-name), .npy, .fvecs/.bvecs/.ivecs "
                        "or a zarr directory; read in chunks on the workers")
    p.add_argument("--dataset-name", default=None,
                   help="HDF5 dataset / zarr array name (default: 'train' in HDF5, the root "
                        "array of a zarr store)")
    p.add_argument("--output", required=True,
                   help="graph directory to write (an annann index directory, class KNNGraph)")
    p.add_argument("--k", type=positive_int, default=20, help="neighbours per row")
    p.add_argument("--metric", default="euclidean", choices=("euclidean", "angular"),
                   help="distance")
    p.add_argument("--scheduler", default="local", help="'local' or a scheduler address")
    p.add_argument("--workers", type=positive_int, default=2, help="local: worker processes")
    p.add_argument("--memory-limit", default="auto",
                   help="local: memory limit per worker, e.g. 4GB")
    p.add_argument("--bucket-size", type=positive_int, default=32,
                   help="LSH bucket size inside partitions")
    p.add_argument("--partition-size", type=positive_int, default=None,
                   help="max core rows of one partition task (default: ~1.1 x rows / worker "
                        "threads, at most 2,000,000)")
    p.add_argument("--chunk-rows", type=positive_int, default=100_000,
                   help="rows per read / shard")
    p.add_argument("--rounds", type=positive_int, default=10, help="max refinement rounds")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="seed of the LSH and sampling")
    p.add_argument("--checkpoint-dir", default=None, help="round checkpoints (default "
                                                          "<output>.ckpt)")
    p.add_argument("--resume", action="store_true", help="continue from the round checkpoint")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _client(a):
    from distributed import Client, LocalCluster

    if a.scheduler == "local":
        cluster = LocalCluster(n_workers=a.workers, threads_per_worker=1, processes=True,
                               memory_limit=a.memory_limit, dashboard_address=":0")
        return Client(cluster), cluster
    if a.memory_limit != "auto":
        print("build-graph: --memory-limit applies to --scheduler local only; set it on the "
              "workers", file=sys.stderr)
    return Client(a.scheduler), None


def run(a):
    """Run the build; print the dashboard link, per-round progress and the result."""
    if importlib.util.find_spec("distributed") is None:
        raise RuntimeError("build-graph needs dask and distributed: pip install 'annann[dist]'")
    from annann.distributed.build import build_knn_graph

    client, cluster = _client(a)
    try:
        print(f"dashboard: {client.dashboard_link}", flush=True)
        stats = build_knn_graph(a.input, a.output, client, dataset=a.dataset_name,
                                checkpoint_dir=a.checkpoint_dir, resume=a.resume,
                                progress=not a.quiet, n_neighbors=a.k, metric=a.metric,
                                bucket_size=a.bucket_size, partition_size=a.partition_size,
                                chunk_rows=a.chunk_rows, max_rounds=a.rounds, seed=a.seed)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    print(f"wrote {stats['output']}: {stats['n']} rows, {len(stats['history'])} rounds, "
          f"{stats['seconds']:.1f} s, converged={stats['converged']}")
    return 0
