"""Adapter: ScaNN (k-means tree, anisotropic 4-bit product quantization scored by LUT16, exact
re-rank) through its pybind extension alone. Needs ``pip install annann[peers]`` (``scann``).

``import scann`` imports TensorFlow whenever it is importable (scann/__init__.py loads the TF ops,
which fail against other TensorFlow builds), so this module never imports the ``scann`` package:
it loads the compiled ``scann/scann_ops/cc/python/scann_pybind`` extension by file path and
writes the ScaNN text config itself. No TensorFlow is imported.
"""

import importlib.machinery
import importlib.util
import math
import sys
from pathlib import Path

import numpy as np

from annann.core.cpus import usable_cpus
from annann.core.distances import normalize_rows
from annann.core.validation import as_float_matrix

from ..base.module import BaseANN


def load_scann_pybind():
    """The ``scann_pybind`` extension module of the installed scann, loaded without running
    scann/__init__.py (and registered as ``scann_pybind``, the name scann's own wrapper imports,
    so that the extension is initialised once per process); ModuleNotFoundError (name "scann")
    if scann is not installed."""
    if "scann_pybind" in sys.modules:
        return sys.modules["scann_pybind"]
    spec = importlib.util.find_spec("scann")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("No module named 'scann' (pip install annann[peers])",
                                  name="scann")
    folder = Path(next(iter(spec.submodule_search_locations))) / "scann_ops" / "cc" / "python"
    found = sorted(folder.glob("scann_pybind*.so"))
    if not found:
        raise ModuleNotFoundError(f"scann is installed but has no {folder}/scann_pybind*.so",
                                  name="scann")
    loader = importlib.machinery.ExtensionFileLoader("scann_pybind", str(found[0]))
    module = importlib.util.module_from_spec(
        importlib.util.spec_from_file_location("scann_pybind", str(found[0]), loader=loader))
    loader.exec_module(module)
    sys.modules["scann_pybind"] = module
    return module


scann_pybind = load_scann_pybind()

PARAMS = {"n_leaves": 2000, "dims_per_block": 2, "avq_threshold": 0.2, "training_sample": None,
          "seed": 1}


def scann_config(n, d, k, n_leaves, dims_per_block, avq_threshold, dot_product, seed):
    """ScaNN text config: k-means tree of n_leaves (int8 centroids), asymmetric hashing of
    dims_per_block dimensions per 16-centre block (anisotropic with threshold avq_threshold, NaN:
    plain), exact float re-rank; dot product (spherical tree) or squared L2."""
    measure = "DotProductDistance" if dot_product else "SquaredL2Distance"
    full, rest = divmod(d, dims_per_block)
    if rest:
        projection = (f"input_dim: {d} projection_type: VARIABLE_CHUNK "
                      f"variable_blocks {{ num_blocks: {full} num_dims_per_block: "
                      f"{dims_per_block} }} "
                      f"variable_blocks {{ num_blocks: 1 num_dims_per_block: {rest} }}")
    else:
        projection = (f"input_dim: {d} projection_type: CHUNK num_blocks: {full} "
                      f"num_dims_per_block: {dims_per_block}")
    residual = "true" if dot_product else "false"  # residual AH: with a tree, dot product only
    global_topn = "true" if dot_product and full + (rest > 0) <= 256 else "false"
    threshold = "nan" if math.isnan(avq_threshold) else repr(float(avq_threshold))
    return f"""
num_neighbors: {k}
distance_measure {{ distance_measure: "{measure}" }}
partitioning {{
  num_children: {n_leaves}
  min_cluster_size: 50
  max_clustering_iterations: 12
  single_machine_center_initialization: RANDOM_INITIALIZATION
  partitioning_distance {{ distance_measure: "SquaredL2Distance" }}
  query_spilling {{ spilling_type: FIXED_NUMBER_OF_CENTERS max_spill_centers: 1 }}
  expected_sample_size: {n}
  query_tokenization_distance_override {{ distance_measure: "{measure}" }}
  partitioning_type: {"SPHERICAL" if dot_product else "GENERIC"}
  query_tokenization_type: FIXED_POINT_INT8
  clustering_seed: {seed}
}}
hash {{
  asymmetric_hash {{
    lookup_type: INT8_LUT16
    use_residual_quantization: {residual}
    use_global_topn: {global_topn}
    quantization_distance {{ distance_measure: "SquaredL2Distance" }}
    num_clusters_per_block: 16
    projection {{ {projection} }}
    fixed_point_lut_conversion_options {{ float_to_int_conversion_method: ROUND }}
    noise_shaping_threshold: {threshold}
    expected_sample_size: 100000
    max_clustering_iterations: 10
    clustering_seed: {seed}
  }}
}}
exact_reordering {{
  approx_num_neighbors: 1
  fixed_point {{ enabled: false }}
}}
"""


class Scann(BaseANN):
    """ScaNN tree-AH-reorder: ``n_leaves`` leaves (an int, or a float meaning that multiple of
    sqrt(n); at most n / 5), ``dims_per_block`` dimensions per PQ block, anisotropic threshold
    ``avq_threshold`` (angular only: euclidean runs plain squared L2 like upstream's config);
    query argument the pair [leaves_to_search, reorder] (reorder raised to k when below it)."""

    def __init__(self, metric, params=None):
        if metric not in ("euclidean", "angular"):
            raise ValueError(f"scann adapter: unsupported metric {metric!r}")
        params = dict(params or {})
        unknown = sorted(set(params) - set(PARAMS))
        if unknown:
            raise ValueError(f"scann adapter: unknown parameter(s) {', '.join(unknown)} "
                             f"(known: {', '.join(PARAMS)})")
        p = {**PARAMS, **params}
        self.metric = metric
        self.dot_product = metric == "angular"  # unit vectors: dot product ranks as L2 does
        self.n_leaves = p["n_leaves"]
        if not isinstance(self.n_leaves, (int, float)) or self.n_leaves <= 0:
            raise ValueError(f"scann adapter: n_leaves must be a positive number, got "
                             f"{self.n_leaves!r}")
        self.dims_per_block = int(p["dims_per_block"])
        self.avq_threshold = float("nan") if p["avq_threshold"] is None else float(
            p["avq_threshold"])
        if not self.dot_product:
            self.avq_threshold = float("nan")  # anisotropic loss is defined for dot product
        self.training_sample = p["training_sample"]
        self.seed = int(p["seed"])
        self.leaves_to_search, self.reorder = 1, 30
        self._name()

    def _name(self):
        self.name = (f"scann(leaves={self.n_leaves}, dims_per_block={self.dims_per_block}, "
                     f"avq={self.avq_threshold:.2f}, search={self.leaves_to_search}, "
                     f"reorder={self.reorder})")

    def _prep(self, X):
        X = as_float_matrix(X)
        return normalize_rows(X) if self.metric == "angular" else X

    def fit(self, X):
        """Train the tree and the quantizer on every usable core; queries then use one thread.
        Angular data is unit-normalised and searched by dot product."""
        X = self._prep(X)
        n, d = X.shape
        leaves = (int(round(self.n_leaves * np.sqrt(n))) if isinstance(self.n_leaves, float)
                  else int(self.n_leaves))
        self.n_leaves = leaves = max(1, min(leaves, n // 5))
        sample = n if self.training_sample is None else min(n, int(self.training_sample))
        config = scann_config(sample, d, 10, leaves, self.dims_per_block, self.avq_threshold,
                              self.dot_product, self.seed)
        self.n = n
        self.searcher = scann_pybind.ScannNumpy(X, config, usable_cpus())
        self.searcher.set_num_threads(1)
        self._name()

    def set_query_arguments(self, leaves_reorder):
        """Set the pair [leaves_to_search, reorder] (leaves scanned, candidates re-ranked)."""
        leaves, reorder = leaves_reorder
        self.leaves_to_search, self.reorder = int(leaves), int(reorder)
        if self.leaves_to_search < 1 or self.reorder < 1:
            raise ValueError(f"scann adapter: leaves_to_search and reorder must be >= 1, got "
                             f"{leaves_reorder!r}")
        self._name()

    def query(self, q, n):
        """Ids of the n approximate nearest neighbours of q."""
        q = np.asarray(q, dtype=np.float32)
        if self.metric == "angular":
            q = q / max(float(np.linalg.norm(q)), 1e-30)
        ids, _ = self.searcher.search(q, n, max(self.reorder, n), self.leaves_to_search)
        return ids.astype(np.int64)

    def batch_query(self, X, n):
        """Answer every row of X (not in parallel); results go to self.res."""
        ids, _ = self.searcher.search_batched(self._prep(X), n, max(self.reorder, n),
                                              self.leaves_to_search, False, 0)
        self.res = [row.astype(np.int64) for row in ids]
