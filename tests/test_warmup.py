"""Kernels compiled before the measurement: the engines' warm_up functions, the image build step
(``python -m annann.warmup``), the adapters' constructors, and the freed build scratch handed back.

The decisive check runs in a fresh interpreter: after warm_up, a fit and searches on data of
another size and dimension add no signature to any numba dispatcher of annann (nothing is
compiled, nor loaded from the cache, inside a timed fit).
"""

import json
import subprocess
import sys
import textwrap

import pytest

from annann.core.memory import release_free_memory
from annann.graph.index import warm_up as warm_up_graph
from annann.ivf.index import warm_up as warm_up_ivf
from tests.paths import ROOT

NOTHING_COMPILED_IN_FIT = textwrap.dedent("""
    import importlib, json, pkgutil, sys
    import numpy as np
    from numba.core.registry import CPUDispatcher
    import annann
    from annann.data.synthetic import gaussian_clusters
    from annann.graph.index import KNNGraphIndex, warm_up as warm_graph
    from annann.ivf.index import ClusterIndex, warm_up as warm_ivf

    for m in pkgutil.walk_packages(annann.__path__, "annann."):
        if not m.name.startswith(("annann.distributed", "annann.learned")):
            importlib.import_module(m.name)

    def signatures():
        return {f"{name}.{k}": len(v.signatures) for name, mod in list(sys.modules.items())
                if name.startswith("annann.") for k, v in vars(mod).items()
                if isinstance(v, CPUDispatcher)}

    metric = sys.argv[1]
    warm_ivf(metric)
    warm_graph(metric, n_neighbors=12, lsh_tables=4, bucket_size=16)
    warm_graph(metric, init="random", n_neighbors=12)
    before = signatures()
    for dim in (40, 72):  # "auto": full rows below 64 dimensions, codes from 64 up
        X = gaussian_clusters(6050, dim, seed=7)
        X, Q = X[:6000], X[6000:]
        for transform in (None, lambda A: np.asarray(A)[:, :10] * 2.0):
            index = ClusterIndex(metric, n_clusters=3.0, rerank=2).fit(X, transform=transform)
            index.search(Q[0], 10, C=8)
            index.search_batch(Q, 10, C=8)
        graph = KNNGraphIndex(metric, n_neighbors=12, lsh_tables=4, bucket_size=16).fit(X)
        assert graph.coded == (dim >= 64)
        graph.search(Q[0], 10, beam=40, entry_tables=2)
        if graph.coded:
            graph.search(Q[0], 10, beam=40, margin=1.0)
        graph.search_batch(Q, 10, beam=40)
        KNNGraphIndex(metric, init="random", n_neighbors=12).fit(X).search(Q[0], 10, beam=20)
    after = signatures()
    print(json.dumps({"dispatchers": len(after),
                      "new": {k: [before.get(k, 0), n] for k, n in after.items()
                              if n != before.get(k, 0)}}))
""")


@pytest.mark.parametrize("metric", ["euclidean", "angular"])
def test_nothing_is_compiled_inside_fit_after_warm_up(metric):
    proc = subprocess.run([sys.executable, "-c", NOTHING_COMPILED_IN_FIT, metric], cwd=ROOT,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["dispatchers"] > 20  # the probe sees the kernels
    assert out["new"] == {}, f"compiled or loaded inside fit/search: {out['new']}"


def test_warm_up_runs_once_per_process_and_settings():
    warm_up_ivf("euclidean")
    assert warm_up_ivf("euclidean") == 0.0
    warm_up_graph("euclidean", n_neighbors=10)
    assert warm_up_graph("euclidean", n_neighbors=10, seed=3, n_jobs=1) == 0.0  # same kernels
    with pytest.raises(ValueError, match="metric"):
        warm_up_ivf("hamming")
    with pytest.raises(ValueError, match="n_neighbors"):
        warm_up_graph("euclidean", n_neighbors=0)


def test_warm_up_of_large_graph_settings_fits_more_rows():
    """The synthetic set grows with the pool, so any valid K can be warmed up."""
    assert warm_up_graph("euclidean", n_neighbors=300, lsh_tables=2, rho=0.1, max_iters=1) > 0.0


def test_image_build_step_warms_every_engine_and_metric():
    proc = subprocess.run([sys.executable, "-m", "annann.warmup"], cwd=ROOT, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    for engine in ("ivf", "scores", "graph"):
        for metric in ("euclidean", "angular"):
            assert any(line.startswith(f"{engine} {metric}: kernels ready in") for line in lines)
    bad = subprocess.run([sys.executable, "-m", "annann.warmup", "gpu"], cwd=ROOT,
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown engine(s) gpu" in bad.stderr


def test_adapters_warm_up_in_their_constructors(monkeypatch):
    """The harness times fit, not the constructor: the adapters warm their engine up there."""
    import ann_benchmarks_plugin.algorithms.annann.module as annann_module
    import ann_benchmarks_plugin.algorithms.annann_raw.module as raw_module
    import ann_benchmarks_plugin.algorithms.knngraph.module as graph_module

    calls = []
    for module in (raw_module, graph_module, annann_module):
        monkeypatch.setattr(module, "warm_up", lambda *a, **k: calls.append((a, k)))
    raw_module.AnnannRaw("angular", {"n_clusters": 2.0})
    graph_module.KnnGraphRandom("euclidean", {"n_neighbors": 15, "seed": 2})
    annann_module.Annann("euclidean", {"n_clusters": 1.0})
    assert calls == [(("angular",), {}),
                     (("euclidean",), {"init": "random", "n_neighbors": 15, "seed": 2}),
                     (("euclidean",), {})]


def test_freed_memory_is_handed_back():
    assert release_free_memory() is (sys.platform.startswith("linux"))
