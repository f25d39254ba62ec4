"""benchmarks/bench_graph_search.py: its helpers, a smoke run on the embedded 10k SIFT set (ours
and hnswlib in the default suite; glass, symphonyqg and pynndescent under ``-m peers``) and on
the GloVe-12k angular set, the result files and the table's shape, and the clear failure of a
peer that is not installed."""

import importlib
import json

import numpy as np
import pytest

from annann.graph.index import KNNGraphIndex
from tests.paths import DATA

BIGANN = str(DATA / "bigann-10k-128-euclidean.hdf5")
GLOVE = str(DATA / "glove-twitter-12k-25-angular.hdf5")


@pytest.fixture(scope="module")
def bench():
    return importlib.import_module("benchmarks.bench_graph_search")


@pytest.mark.parametrize("metric", ["euclidean", "angular"])
def test_squared_graph_gives_fit_graph_squared_l2(bench, bigann10k, metric):
    X = bigann10k.train[:600]
    index = KNNGraphIndex(metric, n_neighbors=8, seed=0).fit(X)
    ids, sq = bench.squared_graph(index)
    V = X / np.linalg.norm(X, axis=1, keepdims=True) if metric == "angular" else X
    true = ((V[:, None, :].astype(np.float64) - V[ids].astype(np.float64)) ** 2).sum(axis=2)
    np.testing.assert_allclose(sq, true, rtol=2e-3, atol=1e-4 * true.max())


def test_index_bytes_count_every_array(bench, bigann10k):
    X = bigann10k.train[:600]
    index = KNNGraphIndex("euclidean", n_neighbors=8, seed=0).fit(X)
    total, parts = bench.graph_index_bytes(index)
    if not hasattr(index, "memory_bytes"):
        assert parts["X"] == X.nbytes and parts["blocks"] == index._blocks.nbytes
        assert total == sum(parts.values()) > X.nbytes + index._blocks.nbytes
    rows = KNNGraphIndex("euclidean", n_neighbors=8, seed=0, quantizer="none").fit_graph(
        X, *bench.squared_graph(index))
    assert bench.graph_index_bytes(rows)[0] < total  # no code blocks


def test_a_missing_peer_stops_the_run_with_a_clear_message(bench, monkeypatch, tmp_path):
    monkeypatch.setattr(bench, "PEER_MODULES", {name: ("json",) for name in bench.PEER_MODULES})
    monkeypatch.setitem(bench.PEER_MODULES, "glass", ("no_such_module_for_the_test",))
    with pytest.raises(SystemExit, match=r"glass.*no_such_module_for_the_test.*--systems "
                                         r"knngraph-lsh,hnswlib"):
        bench.main(["--data", BIGANN, "--out", str(tmp_path), "--systems",
                    "knngraph-lsh,hnswlib,glass"])
    assert not list(tmp_path.iterdir())
    with pytest.raises(SystemExit):  # argparse: an unknown system name
        bench.main(["--data", BIGANN, "--out", str(tmp_path), "--systems", "faiss"])


def table(md, header):
    lines = md.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip("|").split("|")])
    return rows


def smoke(bench, tmp_path, data, systems, tag="t"):
    s = bench.main(["--data", data, "--queries", "50", "--max-points", "3", "--runs", "1",
                    "--systems", ",".join(systems), "--out", str(tmp_path), "--tag", tag])
    stem = tmp_path / f"search_{tag}"
    for ext in (".md", ".json", ".png", ".log"):
        assert stem.with_suffix(ext).stat().st_size > 0, ext
    assert json.loads(stem.with_suffix(".json").read_text())["repeats"] == s["repeats"]
    order = [n for n in bench.SYSTEMS if n in systems]
    assert list(s["repeats"][0]) == order and s["orders"] == [order, order[::-1]]
    md = stem.with_suffix(".md").read_text()
    main = table(md, "| system | QPS @ 0.9")
    assert [r[0].removesuffix(" (ours)") for r in main] == order
    assert all(len(r) == 8 for r in main)
    ours = [n for n in order if n in bench.OURS]
    peers = [n for n in order if n not in bench.OURS]
    if peers:
        assert [r[0] for r in table(md, "| ours / peer")] == [f"{o} / {p}" for o in ours
                                                              for p in peers]
    for rep in s["repeats"]:
        for name in order:
            assert 1 <= len(rep[name]) <= 3
            assert all(0.0 <= p["recall"] <= 1.0 and p["qps"] > 0 for p in rep[name])
    for name in order:
        b = s["builds"][name]
        assert b["build_s"] > 0 and b["index_bytes"] > 0 and s["max_recall"][name] > 0.5
    return s, md


def test_smoke_run_of_ours_and_hnswlib(bench, tmp_path):
    s, md = smoke(bench, tmp_path, BIGANN, ["knngraph-lsh", "knngraph-lsh-rows", "hnswlib"])
    assert "K-NN lists reused" in md
    # the row walk's grid has epsilon, the coded walk's does not
    assert [len(p["param"]) for p in s["repeats"][0]["knngraph-lsh"]] == [2, 2, 2]
    assert [len(p["param"]) for p in s["repeats"][0]["knngraph-lsh-rows"]] == [3, 3, 3]


@pytest.mark.peers
def test_smoke_run_with_glass_and_symphonyqg(bench, tmp_path):
    s, _ = smoke(bench, tmp_path, BIGANN, ["knngraph-lsh", "glass", "symphonyqg"])
    assert s["builds"]["glass"]["index_parts"]["graph_file"] > 0


@pytest.mark.peers
def test_smoke_run_with_pynndescent(bench, tmp_path):
    smoke(bench, tmp_path, BIGANN, ["knngraph-lsh-rows", "pynndescent"])


@pytest.mark.peers
def test_smoke_run_on_angular_data(bench, tmp_path):
    s, _ = smoke(bench, tmp_path, GLOVE, ["knngraph-lsh", "knngraph-lsh-rows", "glass"], "g")
    assert s["metric"] == "angular" and s["dim"] == 25
