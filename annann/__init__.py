"""annann: learned and graph-based approximate nearest neighbour search.

Sub-packages: ``core`` (kernels and checks), ``data`` (datasets, ground truth, recall), ``ivf``
(the cluster engine), ``learned`` (ANNANN, Neural LSH, learned scores and learned termination),
``graph`` (the K-NN graph), ``distributed`` (the Dask build). The names below are imported on
first use, so ``import annann`` stays cheap.
"""

from importlib import import_module

__version__ = "0.1.0"

_PUBLIC = {
    "ClusterIndex": "annann.ivf.index",
    "AnnannIndex": "annann.learned.index",
    "TrainConfig": "annann.learned.training",
    "NeuralLshIndex": "annann.learned.neural_lsh",
    "LearnedScoreIndex": "annann.learned.scores",
    "LearnedStopIndex": "annann.learned.termination",
    "KNNGraphIndex": "annann.graph.index",
    "LSHIndex": "annann.graph.lsh",
    "BruteForceIndex": "annann.data.groundtruth",
    "exact_knn": "annann.data.groundtruth",
    "Dataset": "annann.data.datasets",
    "DatasetError": "annann.data.datasets",
    "get_dataset": "annann.data.datasets",
    "read_dataset": "annann.data.datasets",
    "write_dataset": "annann.data.datasets",
    "first_rows": "annann.data.datasets",
    "knn_recall": "annann.data.evaluation",
    "recall_of_ids": "annann.data.evaluation",
    "NotFittedError": "annann.core.validation",
    "IndexFormatError": "annann.core.index_format",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name):
    if name in _PUBLIC:
        value = getattr(import_module(_PUBLIC[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'annann' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_PUBLIC))
