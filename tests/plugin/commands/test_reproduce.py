"""reproduce: query subsets, run-group selection, resumption and provenance on the embedded set."""

import json
import textwrap

import h5py
import numpy as np
import pytest

from ann_benchmarks_plugin.harness.definitions import DefinitionError
from ann_benchmarks_plugin.commands.reproduce import (SIZES, TARGETS, Target, query_subset,
                                                      reproduce, source_path)
from ann_benchmarks_plugin.harness.runner import select_definitions
from annann.core.cpus import usable_cpus
from annann.data.datasets import DatasetError, read_dataset

SOURCE = "bigann-10k-128-euclidean"

ALGOS = """
float:
  any:
  - name: bruteforce
    module: ann_benchmarks_plugin.algorithms.bruteforce
    constructor: BruteForce
    docker_tag: ann-benchmarks-bruteforce
    base_args: ['@metric']
    run_groups:
      exact:
        args: []
  - name: annann-raw
    module: ann_benchmarks_plugin.algorithms.annann_raw
    constructor: AnnannRaw
    docker_tag: ann-benchmarks-annann_raw
    base_args: ['@metric']
    run_groups:
      few:
        arg_groups: [{n_clusters: [0.5]}]
        args: {}
        query_args: [[2, 8], [1]]
      many:
        arg_groups: [{n_clusters: [2.0]}]
        args: {}
        query_args: [[2, 8], [1]]
"""


@pytest.fixture
def algos(tmp_path):
    p = tmp_path / "algos.yaml"
    p.write_text(textwrap.dedent(ALGOS))
    return p


def test_query_subset_links_train_and_keeps_first_queries(tmp_path):
    src = source_path(Target(SOURCE, "small"), str(tmp_path))
    out = query_subset(src, 20, tmp_path)
    assert out.name == f"{SOURCE}-q20.hdf5"
    sub, full = read_dataset(out), read_dataset(src)
    np.testing.assert_array_equal(sub.train, full.train)
    np.testing.assert_array_equal(sub.test, full.test[:20])
    np.testing.assert_array_equal(sub.neighbors, full.neighbors[:20])
    with h5py.File(out, "r") as f:
        assert isinstance(f.get("train", getlink=True), h5py.ExternalLink)
    assert out.stat().st_size < 100_000  # the train set is linked, not copied
    mtime = out.stat().st_mtime_ns
    assert query_subset(src, 20, tmp_path).stat().st_mtime_ns == mtime  # reused
    with pytest.raises(DatasetError, match="asked for 500 queries"):
        query_subset(src, 500, tmp_path)


def test_run_group_selection(algos):
    defs = select_definitions(algos, "euclidean", 128, 10, ["annann-raw"],
                              run_groups={"annann-raw": ["many"]})
    assert [d.run_group for d in defs] == ["many"]
    with pytest.raises(DefinitionError, match="no run group nope"):
        select_definitions(algos, "euclidean", 128, 10, run_groups={"annann-raw": ["nope"]})


def test_reproduce_runs_resumes_and_writes_provenance(tmp_path, algos):
    targets = (Target(SOURCE, "small", queries=30, runs=1,
                      run_groups=(("annann-raw", ("few",)),), lanes=2),
               Target("no-such-dataset-xyz", "large"))
    results = tmp_path / "results"
    status = reproduce("small", str(tmp_path / "data"), str(results), targets=targets,
                       algorithms=("bruteforce", "annann-raw"), definitions=str(algos),
                       progress=False, command="annann-bench reproduce --only small")
    assert status == {SOURCE: "ok"}
    name = f"{SOURCE}-q30"
    files = sorted(p.name for p in (results / name / "10").rglob("*.hdf5"))
    assert len(files) == 3  # brute force + two query settings of the selected group only
    md = (results / f"{name}.md").read_text()
    assert "annann-bench reproduce --only small" in md and "Queries: 30" in md
    assert "numpy" in md and "cores" in md and "### Builds" in md
    lanes = ("Definitions ran 2 at a time, each pinned to its own core" if usable_cpus() >= 2
             else "Definitions ran one at a time")
    assert lanes in md
    assert (results / f"{name}.png").stat().st_size > 0
    first = {p: p.stat().st_mtime_ns for p in (results / name).rglob("*.hdf5")}
    reproduce("small", str(tmp_path / "data"), str(results), targets=targets,
              algorithms=("bruteforce", "annann-raw"), definitions=str(algos), progress=False)
    assert {p: p.stat().st_mtime_ns for p in (results / name).rglob("*.hdf5")} == first
    status = reproduce("large", str(tmp_path / "data"), str(results), targets=targets,
                       definitions=str(algos), progress=False)
    assert status["no-such-dataset-xyz"].startswith("error:")
    assert json.loads((results / "reproduce-large.json").read_text())["status"] == status


def test_bad_selection_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="only"):
        reproduce("huge", str(tmp_path), str(tmp_path))
    with pytest.raises(ValueError, match="size"):
        Target("x", "huge")


def test_published_targets_cover_every_size():
    assert {t.size for t in TARGETS} == set(SIZES)
