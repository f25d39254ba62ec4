"""The K-NN graph (seed 003): variable-length LSH, NN-descent, the search graph, beam search,
graph quality and ``KNNGraphIndex``.
"""
