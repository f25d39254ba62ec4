"""benchmarks/bench_cluster_index.py: its helpers, a smoke run on the embedded 10k SIFT set (ours
alone in the default suite; every system, the peers included, under ``-m peers``), the
result files and the table's shape, and the clear failure of a peer that is not installed."""

import importlib
import json

import numpy as np
import pytest

from tests.paths import DATA

BIGANN = str(DATA / "bigann-10k-128-euclidean.hdf5")
GLOVE = str(DATA / "glove-twitter-12k-25-angular.hdf5")


@pytest.fixture(scope="module")
def bench():
    """The script as a module of the benchmarks package (its helpers come from benchmarks.common
    under the names the script uses)."""
    return importlib.import_module("benchmarks.bench_cluster_index")


def test_pareto_drops_dominated_points(bench):
    pts = [(0.5, 100), (0.6, 120), (0.7, 50), (0.8, 60), (0.9, 10), (0.85, 5)]
    assert bench.pareto(pts) == [(0.6, 120), (0.8, 60), (0.9, 10)]


def test_qps_at_interpolates_on_the_frontier(bench):
    pts = [(0.8, 1000), (0.9, 500), (1.0, 100), (0.85, 50)]
    assert bench.qps_at(pts, 0.85) == pytest.approx(750)
    assert bench.qps_at(pts, 0.95) == pytest.approx(300)
    assert bench.qps_at(pts, 0.5) == 1000
    assert bench.qps_at([(0.8, 1000)], 0.9) is None


def test_true_distances_pads_missing_ids_with_inf():
    from benchmarks.common import true_distances

    train = np.array([[0, 0], [3, 4], [6, 8]], dtype=np.float32)
    Q = np.zeros((1, 2), dtype=np.float32)
    d = true_distances(train, Q, np.array([[1, 2, -1]]))
    np.testing.assert_allclose(d, [[5.0, 10.0, np.inf]])


def test_lists_ratios_and_thinning(bench):
    from benchmarks.common import ratio_range

    assert bench.resolve_lists("4sqrt", 10000) == 400
    assert bench.resolve_lists("0.5", 10000) == 50 and bench.resolve_lists("123", 10) == 123
    assert ratio_range([100, 120], [50, 80]) == pytest.approx((100 / 80, 120 / 50))
    assert ratio_range([None, None], [50]) is None
    assert bench.fmt_ratio((1.001, 1.004)) == "1.00" and bench.fmt_ratio(None) == "not reached"
    pts = [(0, p) for p in range(10)] + [(1, p) for p in range(5)]
    kept = bench.thinned(pts, 3)
    assert kept == [(0, 0), (0, 4), (0, 9), (1, 0), (1, 2), (1, 4)]


def test_a_missing_peer_stops_the_run_with_a_clear_message(bench, monkeypatch, tmp_path):
    # every other peer imports (json stands in), so the test holds whatever is installed
    monkeypatch.setattr(bench, "PEER_MODULES", {name: ("json",) for name in bench.PEER_MODULES})
    monkeypatch.setitem(bench.PEER_MODULES, "lorann", ("no_such_module_for_the_test",))
    with pytest.raises(SystemExit, match=r"lorann.*no_such_module_for_the_test.*--systems "
                                         r"faiss-ivf-hnsw,rabitq-ivf,scann,faiss-ivfpqfs"):
        bench.check_peers(["faiss-ivf-hnsw", "rabitq-ivf", "scann", "lorann", "faiss-ivfpqfs"])
    with pytest.raises(SystemExit, match="lorann"):  # main checks before loading anything
        bench.main(["--data", BIGANN, "--out", str(tmp_path), "--systems", "annann-raw,lorann"])
    assert not list(tmp_path.iterdir())
    bench.check_peers([])  # left out with --systems: nothing to import


def table(md, header):
    """The rows (lists of cells) of the Markdown table whose header starts with ``header``."""
    lines = md.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip("|").split("|")])
    return rows


def check_outputs(bench, out, tag, systems, max_points):
    stem = out / f"bench_{tag}"
    for ext in (".md", ".json", ".png", ".csv", ".log"):
        assert stem.with_suffix(ext).stat().st_size > 0, ext
    s = json.loads(stem.with_suffix(".json").read_text())
    assert s["systems"] == systems and len(s["repeats"]) == 2
    assert s["orders"][1] == systems[::-1]  # the order reversed on the second repeat
    md = stem.with_suffix(".md").read_text()
    main = table(md, "| system | QPS @ 0.9")
    assert [r[0].removesuffix(" (ours)") for r in main] == systems
    assert all(len(r) == 8 for r in main)
    ours = [n for n in systems if n in bench.OURS]
    peers = [n for n in systems if n not in bench.OURS]
    ratios = table(md, "| ours / peer") if peers else []
    assert [r[0] for r in ratios] == [f"{o} / {p}" for o in ours for p in peers]
    for rows in s["repeats"]:
        for name in systems:
            for b in s["builds"][name]:
                got = [r for r in rows if r["system"] == name and r["build"] == b["build"]]
                assert 1 <= len(got) <= max_points
                assert all(0.0 <= r["recall"] <= 1.0 and r["qps"] > 0 for r in got)
    for name in systems:
        assert all(b["build_s"] > 0 and b["index_bytes"] for b in s["builds"][name])
        assert s["max_recall"][name] > 0.5
    return s, md


def test_smoke_run_of_ours_alone(bench, tmp_path):
    systems = ["annann-raw", "annann-raw-rows", "annann-raw-disk"]
    s = bench.main(["--data", BIGANN, "--queries", "50", "--max-points", "3", "--runs", "1",
                    "--systems", "annann-raw,annann-raw-rows", "--disk", "--disk-dir",
                    str(tmp_path), "--out", str(tmp_path), "--tag", "t"])
    s, md = check_outputs(bench, tmp_path, "t", systems, 3)
    disk = s["builds"]["annann-raw-disk"][0]
    assert disk["memory"]["ram"] < disk["memory"]["total"] and disk["disk_bytes"] > 0
    assert "warm" in md and "clusters reused" in md
    assert not list(tmp_path.glob("bench-cluster-disk-*"))  # the rows' directory is removed


@pytest.mark.peers
def test_smoke_run_with_every_peer(bench, tmp_path):
    s = bench.main(["--data", BIGANN, "--queries", "50", "--max-points", "3", "--max-builds",
                    "1", "--runs", "1", "--out", str(tmp_path), "--tag", "t"])
    systems = [n for n in bench.SYSTEMS if n != "annann-raw-disk"]
    check_outputs(bench, tmp_path, "t", systems, 3)
    assert all(len(s["builds"][n]) == 1 for n in systems)


@pytest.mark.peers
def test_smoke_run_on_angular_data(bench, tmp_path):
    s = bench.main(["--data", GLOVE, "--queries", "50", "--max-points", "3", "--max-builds",
                    "1", "--runs", "1", "--systems", "annann-raw,scann,rabitq-ivf", "--out",
                    str(tmp_path), "--tag", "g"])
    assert s["metric"] == "angular"
    check_outputs(bench, tmp_path, "g", ["annann-raw", "rabitq-ivf", "scann"], 3)
    assert "avq=0.2" in s["builds"]["scann"][0]["build"]  # its angular config: dot product, AVQ
