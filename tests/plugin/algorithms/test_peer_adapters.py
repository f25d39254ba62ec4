"""The leaders' adapters (glass, symphonyqg, rabitq-ivf, scann, lorann, faiss-ivfpqfs) on the
embedded real sets, with the first run group of their algos.yaml entries.

Marked ``peers``: they need the peers extra (``pip install -e '.[peers]'``), which the default
test install does not have, and run with ``python -m pytest -m peers``. A missing peer package
fails them (never a skip): the adapters are imported inside the tests, so collecting this file
needs none of them.
"""

import importlib
import importlib.util
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from ann_benchmarks_plugin.commands.cli import main as cli_main
from ann_benchmarks_plugin.harness.definitions import default_definitions_path, get_definitions
from ann_benchmarks_plugin.harness.metrics import collect
from annann.data.datasets import get_dataset
from tests.paths import ROOT

pytestmark = pytest.mark.peers

# algos.yaml name -> (adapter folder, the importable top-level module of its library)
PEERS = {"glass": ("peer_glass", "glass"), "symphonyqg": ("peer_symphonyqg", "rabitqlib"),
         "rabitq-ivf": ("peer_rabitq_ivf", "rabitqlib"), "scann": ("peer_scann", "scann"),
         "lorann": ("peer_lorann", "lorann"), "faiss-ivfpqfs": ("peer_faiss_ivfpqfs", "faiss")}
QUERIES = 200  # first queries of each set (bigann-10k has 100)


def first_definition(name, dimension, metric):
    """The first definition (first run group, first arguments) of a peer in the project's
    algos.yaml for this metric."""
    defs = [d for d in get_definitions(default_definitions_path(), dimension, metric=metric)
            if d.algorithm == name]
    assert defs, f"algos.yaml has no {name} entry for {metric}"
    return defs[0]


def make(definition):
    """The adapter of a definition (its library must import: a missing one fails the test)."""
    module = importlib.import_module(f"{definition.module}.module")
    return getattr(module, definition.constructor)(*definition.arguments)


def recall_at_10(found, truth):
    """Mean fraction of the file's exact 10 nearest ids found."""
    return float(np.mean([len(set(np.asarray(f).tolist()) & set(t[:10].tolist())) / 10
                          for f, t in zip(found, truth)]))


def test_every_peer_package_is_installed():
    """-m peers without the extra fails here first, naming what to install."""
    missing = sorted({lib for _, lib in PEERS.values() if importlib.util.find_spec(lib) is None})
    assert not missing, (f"peer libraries missing: {', '.join(missing)}; "
                         "install them with pip install -e '.[peers]'")


@pytest.mark.parametrize("name", sorted(PEERS))
@pytest.mark.parametrize("data", ["bigann10k", "glove12k"])
def test_peer_recall_grows_with_its_query_argument(name, data, request):
    """Fit on the real set, then the smallest and the largest query setting of the grid: the
    largest finds >= 95% of the exact 10 nearest, the smallest fewer; batch mode agrees."""
    ds = request.getfixturevalue(data)
    metric = "angular" if data == "glove12k" else "euclidean"
    definition = first_definition(name, ds.train.shape[1], metric)
    algo = make(definition)
    algo.fit(ds.train)
    queries, truth = ds.test[:QUERIES], ds.neighbors[:QUERIES]
    recalls, names = [], []
    for query_args in (definition.query_argument_groups[0],
                       definition.query_argument_groups[-1]):
        algo.set_query_arguments(*query_args)
        found = [algo.query(q, 10) for q in queries]
        for ids in found:
            ids = np.asarray(ids)
            assert ids.ndim == 1 and np.issubdtype(ids.dtype, np.integer) and ids.size <= 10
            assert len(np.unique(ids)) == ids.size and (ids >= 0).all()
            assert (ids < ds.train.shape[0]).all()
        recalls.append(recall_at_10(found, truth))
        names.append(str(algo))
    assert names[0] != names[1] and name.split("-")[0] in names[0]  # the name shows the setting
    small, large = recalls
    assert large >= 0.95, (str(algo), recalls)
    assert small < large, (str(algo), recalls)
    algo.batch_query(queries, 10)
    assert recall_at_10(algo.get_batch_results(), truth) >= 0.95


@pytest.mark.parametrize("name", sorted(PEERS))
def test_peer_refuses_unsupported_metrics_and_unknown_parameters(name):
    definition = first_definition(name, 128, "euclidean")
    module = importlib.import_module(f"{definition.module}.module")
    constructor = getattr(module, definition.constructor)
    with pytest.raises(ValueError, match="unsupported metric 'hamming'"):
        constructor("hamming", *definition.arguments[1:])
    if isinstance(definition.arguments[1], dict):
        with pytest.raises(ValueError, match="unknown parameter"):
            constructor("euclidean", {**definition.arguments[1], "bogus": 1})


def test_glass_refuses_a_quantizer_name_before_glass_sees_it():
    """glass ends the process (exit status 0) on an unknown quantizer: the adapter checks first."""
    from ann_benchmarks_plugin.algorithms.peer_glass.module import Glass

    with pytest.raises(ValueError, match="quant 'SQ8P' is not one of"):
        Glass("euclidean", {"quant": "SQ8P"})


def test_peers_pad_what_their_libraries_cannot_take(glove12k):
    """25 dimensions: RaBitQ's rotation wants multiples of 64, LoRANN at least 64, PQ<d/2> an even
    d; the adapters pad with zeros (distances unchanged) and answer in the original ids."""
    from ann_benchmarks_plugin.algorithms.peer_faiss_ivfpqfs.module import FaissIVFPQfs
    from ann_benchmarks_plugin.algorithms.peer_lorann.module import Lorann
    from ann_benchmarks_plugin.algorithms.peer_rabitq_ivf.module import RabitqIVF
    from ann_benchmarks_plugin.algorithms.peer_symphonyqg.module import SymphonyQG

    X, q = glove12k.train[:2000], glove12k.train[7]
    for algo, query_args in ((SymphonyQG("angular", {"degree": 32, "ef_construction": 100}), [64]),
                             (RabitqIVF("angular", {"n_lists": 16, "nbits": 7}), [16]),
                             (Lorann("angular", {"n_clusters": 16}), [[16, 200]]),
                             (FaissIVFPQfs("angular", 16), [16, 100])):
        algo.fit(X)
        algo.set_query_arguments(*query_args)
        assert 7 in algo.query(q, 10).tolist(), str(algo)  # the point itself is found
    assert algo.M == 13  # 25 dimensions + 1 zero column, 2 per sub-quantizer


SCANN_WITHOUT_TF = textwrap.dedent("""
    import json, sys
    import numpy as np
    from annann.data.datasets import get_dataset
    from ann_benchmarks_plugin.algorithms.peer_scann.module import Scann

    ds = get_dataset("bigann-10k-128-euclidean")
    algo = Scann("euclidean", {"n_leaves": 100, "dims_per_block": 2, "avq_threshold": None})
    algo.fit(ds.train[:3000])
    algo.set_query_arguments([20, 100])
    ids = algo.query(ds.train[5], 10)
    print(json.dumps({"first": int(ids[0]), "n": int(len(ids)),
                      "tensorflow": sorted(m for m in sys.modules
                                           if m.partition(".")[0] in ("tensorflow", "keras")),
                      "scann_package": "scann" in sys.modules}))
""")


def test_scann_adapter_never_imports_tensorflow():
    """In a fresh interpreter (TensorFlow importable), build and query ScaNN: no tensorflow nor
    keras module is loaded, and the scann package's __init__ (which imports TF) never ran."""
    assert importlib.util.find_spec("scann") is not None, "pip install -e '.[peers]'"
    proc = subprocess.run([sys.executable, "-c", SCANN_WITHOUT_TF], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["first"] == 5 and out["n"] == 10
    assert out["tensorflow"] == [] and not out["scann_package"], out


@pytest.mark.parametrize("name", sorted(PEERS))
def test_annann_bench_runs_the_peer_from_algos_yaml(name, tmp_path, monkeypatch, capfd):
    """`annann-bench run --algorithm NAME` on the embedded set (the first definition of the
    project's algos.yaml, disabled entries included when named) writes results whose best
    recall is high."""
    monkeypatch.chdir(tmp_path)  # no ./algos.yaml here: the project's is used
    results = tmp_path / "results"
    code = cli_main(["run", "--algorithm", name, "--runs", "1", "--max-n", "1", "--quiet",
                     "--results-dir", str(results)])
    out, err = capfd.readouterr()
    assert code == 0, out + err
    assert "0 failed" in out
    rows = [r for r in collect(str(results), get_dataset("bigann-10k-128-euclidean")).rows
            if r["algo"] == name]
    assert len(rows) == len(first_definition(name, 128, "euclidean").query_argument_groups)
    assert max(r["k-nn"] for r in rows) >= 0.95
