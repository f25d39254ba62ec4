"""The cluster engine (IVF): k-means, the cluster store, the scan kernel, the HNSW centroid graph
and ``ClusterIndex`` (the raw-space baseline, and ANNANN's engine).
"""
