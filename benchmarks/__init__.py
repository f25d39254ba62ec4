"""The scripts behind results/: focused studies of the library, run from the repository root as
``python -m benchmarks.<script> [options]`` (``--help`` lists each one's options; every module's
docstring has its usage lines). They share ``benchmarks.common``: the data lookup (a path, or a
name found in ./data, ANNANN_DATA_PATH, the embedded sets, then ../shared/data beside the clone),
the loader, the provenance header, atomic result files and the recall / QPS helpers.

- ``ab_checkouts``: the same workload on two checkouts, alternating (A/B of a refactoring)
- ``bench_annann``: the learned variants (ANNANN, Neural LSH) vs the raw-space cluster index
- ``bench_cluster_index``: annann-raw vs faiss IVF-HNSW, recall@10 vs single-thread QPS
- ``bench_distributed``: the distributed K-NN graph build vs the single-machine one
- ``bench_graph_search``: K-NN graph search vs hnswlib and pynndescent
- ``bench_kmeans``: k-means settings of the cluster index (recall vs vectors scanned)
- ``bench_knngraph``: K-NN graph build (LSH vs random start vs pynndescent), then search
- ``bench_termination``: learned adaptive termination (cluster and graph engines) vs the raw twins
- ``check_lanes``: does ``reproduce --parallelism 2`` change the QPS?
- ``dist_cost_model``: the distributed build's cost model, extrapolated to 1B rows
- ``profile_graph_query``: where the time of one K-NN graph query goes
- ``profile_ivf_query``: where the time of one cluster-index query goes
- ``profile_nndescent``: where NN-descent's build time goes, per kernel

Most default to the 1M SIFT set (``fg-sift-128-euclidean``) and take minutes to hours on it;
``--data bigann-10k-128-euclidean`` (embedded in the package) makes a quick smoke run.
"""
