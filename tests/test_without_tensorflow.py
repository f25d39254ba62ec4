"""Without TensorFlow installed, the library, the cluster engine, the K-NN graph and the annann-raw
and knngraph adapters import and run (their images hold no TensorFlow); ANNANN says what to install.

Absence is simulated in a fresh interpreter: Python's path finder is wrapped so that
``tensorflow`` and ``keras`` are not found, exactly as when they are not installed.
"""

import json
import subprocess
import sys
import textwrap

from tests.paths import ROOT

HIDE = textwrap.dedent("""
    import importlib.machinery, sys

    class NotInstalled:
        '''The path finder, blind to TensorFlow and Keras.'''
        HIDDEN = ("tensorflow", "keras", "tf_keras")

        @classmethod
        def find_spec(cls, name, path=None, target=None):
            if name.partition(".")[0] in cls.HIDDEN:
                return None
            return importlib.machinery.PathFinder.find_spec(name, path, target)

    sys.meta_path[:] = [NotInstalled if f is importlib.machinery.PathFinder else f
                        for f in sys.meta_path]
""")

SCRIPT = HIDE + textwrap.dedent("""
    import importlib.util, json, sys
    import numpy as np

    assert importlib.util.find_spec("tensorflow") is None
    try:
        import tensorflow  # noqa: F401
        raise SystemExit("tensorflow imported although hidden")
    except ModuleNotFoundError:
        pass
    import annann
    from annann import AnnannIndex, ClusterIndex, KNNGraphIndex, LearnedScoreIndex, get_dataset
    import annann.ivf.index, annann.graph.index, annann.learned.index, annann.warmup  # noqa: F401
    from ann_benchmarks_plugin.algorithms.annann_raw.module import AnnannRaw
    from ann_benchmarks_plugin.algorithms.knngraph.module import KnnGraphLSH
    from ann_benchmarks_plugin.algorithms.annann.module import Annann

    ds = get_dataset("bigann-10k-128-euclidean")
    train, queries = ds.train[:3000], ds.test[:20]
    exact = np.argsort(((train[None, :, :] - queries[:, None, :]) ** 2).sum(-1), axis=1)[:, :10]
    out = {}
    for name, algo, qargs in (("annann-raw", AnnannRaw("euclidean", {"n_clusters": 1.0}), (8,)),
                              ("knngraph-lsh", KnnGraphLSH("euclidean", {"n_neighbors": 10}),
                               (32,))):
        algo.fit(train)
        algo.set_query_arguments(*qargs)
        hits = [len(set(np.asarray(algo.query(q, 10)).tolist()) & set(e.tolist()))
                for q, e in zip(queries, exact)]
        out[name] = sum(hits) / exact.size
    out["engines"] = [
        ClusterIndex(n_clusters=16).fit(train).search(queries[0], 5)[0].shape[0],
        KNNGraphIndex(n_neighbors=8).fit(train).search(queries[0], 5)[0].shape[0],
        LearnedScoreIndex(n_clusters=16).fit(train).search(queries[0], 5)[0].shape[0]]
    try:
        Annann("euclidean", {"n_clusters": 1.0}).fit(train)
        out["annann"] = "trained"
    except ImportError as exc:
        out["annann"] = str(exc)
    out["tensorflow_imported"] = any(m.partition(".")[0] in ("tensorflow", "keras")
                                     for m in sys.modules)
    print(json.dumps(out))
""")


def test_library_and_lean_adapters_run_without_tensorflow():
    proc = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["annann-raw"] >= 0.8 and out["knngraph-lsh"] >= 0.8, out
    assert out["engines"] == [5, 5, 5]
    assert "TensorFlow" in out["annann"] and "annann[learned]" in out["annann"], out
    assert out["tensorflow_imported"] is False


def test_the_blocker_hides_an_installed_tensorflow():
    """The simulation is real: with TensorFlow installed here, the script still cannot find it."""
    import importlib.util

    assert importlib.util.find_spec("tensorflow") is not None  # the test extra installs it
    probe = HIDE + "import importlib.util; print(importlib.util.find_spec('tensorflow'))"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.strip() == "None", proc.stderr
