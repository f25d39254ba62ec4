"""The K-NN graph build on a Dask cluster, out of core: chunked input, LSH partitioning, the
round's tasks, partition joins, merges, checkpoints and the graph directory it writes.
"""
