"""benchmarks/bench_termination.py: its cost-frontier helpers, a smoke run on the embedded 10k
SIFT set (ours alone, both engines, in the default suite; with the lorann peer under
``-m peers``), the result files and the shape of the report's tables, and the clear failure of a
peer that is not installed."""

import importlib
import json

import pytest

from tests.paths import DATA

BIGANN = str(DATA / "bigann-10k-128-euclidean.hdf5")


@pytest.fixture(scope="module")
def bench():
    return importlib.import_module("benchmarks.bench_termination")


def test_cost_frontier_keeps_the_cheapest_point_for_each_recall(bench):
    pts = [(0.5, 7.0), (0.6, 8.0), (0.6, 6.0), (0.8, 5.0), (0.9, 20.0), (0.85, 30.0)]
    assert bench.cost_frontier(pts) == [(0.8, 5.0), (0.9, 20.0)]
    assert bench.cost_at(pts, 0.85) == pytest.approx(12.5)
    assert bench.cost_at(pts, 0.3) == 5.0  # the cheapest point already beyond the level
    assert bench.cost_at(pts, 0.95) is None


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
    stem = out / f"termination_{tag}"
    for ext in (".md", ".json", ".png", ".log"):
        assert stem.with_suffix(ext).stat().st_size > 0, ext
    s = json.loads(stem.with_suffix(".json").read_text())
    assert s["systems"] == systems and len(s["repeats"]) == 2
    assert s["orders"][1] == systems[::-1]
    md = stem.with_suffix(".md").read_text()
    assert md.startswith("# Learned designs vs their raw twin") and "- command: `python -m benchmarks." in md
    main = table(md, "| system | engine | QPS @ 0.9")
    assert [r[0] for r in main] == systems and all(len(r) == 9 for r in main)
    pairs = [f"{a} / {b}" for a, b in bench.PAIRS if a in systems and b in systems]
    assert [r[0] for r in table(md, "| ratio of QPS")] == pairs
    for rows in s["repeats"]:
        for name in systems:
            got = [r for r in rows if r["system"] == name]
            assert 1 <= len(got) <= max_points * len(s["builds"][name])
            assert all(0.0 <= r["recall"] <= 1.0 and r["qps"] > 0 for r in got)
            for key in bench.COSTS.get(name, ()):
                assert all(r[key] > 0 for r in got), (name, key)
    for name in systems:
        assert all(b["build_s"] > 0 and b["index_bytes"] > 0 for b in s["builds"][name])
        assert s["max_recall"][name] > 0.5
    return s, md


def test_smoke_run_of_both_engines(bench, tmp_path):
    systems = ["annann-raw", "annann-stop", "annann-scores", "knngraph-lsh", "knngraph-stop"]
    s = bench.main(["--data", BIGANN, "--queries", "50", "--max-points", "3", "--runs", "1",
                    "--stop-queries", "500", "--profile-runs", "2", "--systems",
                    ",".join(systems[::-1]), "--out", str(tmp_path), "--tag", "t"])
    s, md = check_outputs(bench, tmp_path, "t", systems, 3)
    stop = s["builds"]["annann-stop"][0]
    assert 0 < stop["train_s"] < stop["build_s"] and stop["cap"] >= 64
    graph = s["builds"]["knngraph-stop"][0]
    assert graph["fixed_beam_unchanged"] is True and graph["cap"] == 1024
    assert graph["build_s"] > graph["graph_s"] == s["builds"]["knngraph-lsh"][0]["build_s"]
    # the learned systems sweep their calibrated targets with the cap
    for rows in s["repeats"]:
        assert all(r["param"][0] in stop["targets"] for r in rows if r["system"] == "annann-stop")
        assert all(r["clusters"] <= stop["cap"] for r in rows if r["system"] == "annann-stop")
    work = table(md, "| work per query")
    assert [r[1] for r in work] == ["annann-raw", "annann-stop", "annann-stop / annann-raw"] * 3 \
        + ["annann-raw", "annann-scores", "annann-scores / annann-raw"] * 3 \
        + ["knngraph-lsh", "knngraph-stop", "knngraph-stop / knngraph-lsh"]
    scores = s["builds"]["annann-scores"][0]
    assert 0 < scores["train_s"] < scores["build_s"] and scores["rank"] == 32
    sp = s["score_profile"]
    assert "error" not in sp, sp.get("error")
    assert [r["stage"] for r in sp["stages"]][:-1] == list(bench.SCORE_STAGES)
    assert 0 < sp["kernel_us"] < sp["search_us"] and sp["recall"] > 0.5
    assert len(table(md, "| stage | µs / query")) == len(bench.STAGES) + 2  # annann-stop's first
    assert all(len(r) == 5 for r in work)
    p = s["profile"]
    assert "error" not in p, p.get("error")
    assert p["replay_matches_search_batch"] is True
    assert [r["stage"] for r in p["stages"]][:-1] == list(bench.STAGES)
    assert 0 < p["kernel_us"] < p["search_us"]
    assert len(table(md, "| stage | µs / query")) == len(bench.STAGES) + 2
    assert table(md, "| target | recall@10 | QPS | clusters scanned")  # the calibration tables
    assert table(md, "| target | recall@10 | QPS | nodes expanded")


def test_a_missing_peer_stops_the_run_with_a_clear_message(bench, monkeypatch, tmp_path):
    from benchmarks import bench_cluster_index as bci

    monkeypatch.setattr(bci, "PEER_MODULES", {name: ("json",) for name in bci.PEER_MODULES})
    monkeypatch.setitem(bci.PEER_MODULES, "lorann", ("no_such_module_for_the_test",))
    with pytest.raises(SystemExit, match=r"lorann.*no_such_module_for_the_test.*--systems "
                                         r"annann-raw,annann-stop"):
        bench.main(["--data", BIGANN, "--out", str(tmp_path),
                    "--systems", "annann-raw,annann-stop,lorann"])
    assert not list(tmp_path.iterdir())


@pytest.mark.peers
def test_smoke_run_with_lorann(bench, tmp_path):
    systems = ["annann-raw", "annann-stop", "lorann"]
    s = bench.main(["--data", BIGANN, "--queries", "50", "--max-points", "3", "--max-builds", "1",
                    "--runs", "1", "--stop-queries", "500", "--no-profile", "--systems",
                    ",".join(systems), "--out", str(tmp_path), "--tag", "p"])
    s, md = check_outputs(bench, tmp_path, "p", systems, 3)
    assert len(s["builds"]["lorann"]) == 1 and s["profile"] is None
    assert "Where annann-stop's query time goes" not in md
