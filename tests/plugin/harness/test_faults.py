"""The runner under faults and bad input, on purpose: the runner killed at random (seeded) points,
saves killed midway, corrupt datasets and definitions, two runs at once. Each asserts the outcome:
one clear error (exit 2) and nothing written, nothing lost, nothing half written, nothing left
running."""

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import h5py
import numpy as np
import pytest

from ann_benchmarks_plugin.commands.cli import main as cli_main
from ann_benchmarks_plugin.harness.results import is_complete
from annann.core.index_format import IndexWriter, read_index
from annann.data.datasets import EMBEDDED_DIR, write_dataset

EMBEDDED = EMBEDDED_DIR / "bigann-10k-128-euclidean.hdf5"

# A stand-in algorithm whose build takes a known time, so a kill can land in a build, between
# definitions or in a save; set_query_arguments refuses non-integers, query fails at scale 13.
FAULTALGO = """
import time
from ann_benchmarks_plugin.algorithms.base.module import BaseANN

class Sleepy(BaseANN):
    def __init__(self, tag, seconds):
        self.tag, self.seconds, self.scale = tag, float(seconds), 1
        self.name = f"sleepy({tag})"
    def fit(self, X):
        time.sleep(self.seconds)
    def set_query_arguments(self, scale):
        self.scale = int(scale)
        self.name = f"sleepy({self.tag}, scale={self.scale})"
    def query(self, q, n):
        if self.scale == 13:
            raise RuntimeError("scale 13 fails while querying")
        return list(range(n))
"""

ENTRY = """
  - name: sleepy-{tag}
    module: faultalgo
    constructor: Sleepy
    docker_tag: ann-benchmarks-sleepy
    base_args: []
    run_groups:
      g:
        args: [[{tag}], [{seconds}]]
        query_args: [{queries}]
"""


def algos(*entries):
    """A definitions file of Sleepy entries: (tag, build seconds, query args list)."""
    return "float:\n  any:" + "".join(
        ENTRY.format(tag=t, seconds=s, queries=json.dumps(q)) for t, s, q in entries)


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    (tmp_path / "faultalgo").mkdir()
    (tmp_path / "faultalgo" / "__init__.py").write_text("")
    (tmp_path / "faultalgo" / "module.py").write_text(textwrap.dedent(FAULTALGO))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def runner(workspace, *args, marker, **kw):
    """Start `annann-bench run` as a process of its own; the marker tags it and its children."""
    env = dict(os.environ, PYTHONPATH=str(workspace), FAULT_MARKER=marker)
    return subprocess.Popen([sys.executable, "-m", "ann_benchmarks_plugin.commands.cli", "run",
                             *args], cwd=workspace, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def alive_with(marker):
    """Pids of live (not zombie) processes whose environment holds the marker."""
    pids = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            if f"FAULT_MARKER={marker}".encode() not in (d / "environ").read_bytes():
                continue
            if (d / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                pids.append(int(d.name))
        except OSError:
            continue
    return pids


def wait_gone(marker, seconds=10):
    deadline = time.monotonic() + seconds
    while alive_with(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    return alive_with(marker)


def entries_under(folder):
    """(result files, hidden temp/backup entries) anywhere under folder."""
    files = [p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")]
    hidden = [p for p in folder.rglob(".*") if p.name.endswith((".tmp", ".old"))]
    return files, hidden


KILL_SEEDS = (1, 2, 3)


@pytest.mark.parametrize("seed", KILL_SEEDS)
def test_a_runner_killed_at_a_random_point_leaves_no_child_and_no_half_file(workspace, seed):
    """SIGKILL the runner a seeded random time after its first child started (in a child's
    start-up, build, queries or save, or between two children): its children die with it, every
    result file present is complete, and a re-run started at once (waiting on the lock a dying
    child may still hold) finishes the rest and leaves no temp entry."""
    delay = random.Random(seed).uniform(0.0, 3.0)
    (workspace / "faults.yaml").write_text(algos(("a", 2, [1, 2]), ("b", 0.3, [1, 2])))
    marker = uuid.uuid4().hex
    args = ("--definitions", "faults.yaml", "--runs", "1", "--quiet")
    proc = runner(workspace, *args, marker=marker)
    deadline = time.monotonic() + 60
    while len(alive_with(marker)) < 2:  # the runner and its first child
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.02)
    time.sleep(delay)
    proc.kill()
    proc.communicate()
    left = wait_gone(marker, seconds=1.0)  # an orphan would live on for up to 2 s of build
    assert left == [], f"children outlived the runner (killed {delay:.2f} s into the run)"
    results = workspace / "results" / "local" / "bigann-10k-128-euclidean" / "10"
    kept, _ = entries_under(workspace / "results")
    assert all(f.suffix == ".hdf5" and is_complete(f) for f in kept)
    stamps = {f: f.stat().st_mtime_ns for f in kept}
    again = runner(workspace, *args, "--wait", "30", marker=marker)
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    files, hidden = entries_under(workspace / "results")
    assert sorted(f.relative_to(results).as_posix() for f in files) == [
        "sleepy-a/a_2_1.hdf5", "sleepy-a/a_2_2.hdf5",
        "sleepy-b/b_0_3_1.hdf5", "sleepy-b/b_0_3_2.hdf5"]
    assert all(is_complete(f) for f in files) and hidden == []
    # every file the killed run finished is kept; only the missing ones are run again
    done = sum(all(results / f"sleepy-{t}" / n in stamps for n in names)
               for t, names in (("a", ("a_2_1.hdf5", "a_2_2.hdf5")),
                                ("b", ("b_0_3_1.hdf5", "b_0_3_2.hdf5"))))
    assert out.startswith(f"{4 - len(kept)} result files written, {done} definitions already "
                          f"done, 0 failed"), (out, sorted(stamps))
    assert all(f.stat().st_mtime_ns == stamps[f] for f in stamps)  # not rewritten


def _dataset(path, mutate=None, k=20):
    """A small dataset (the first 600 rows of the embedded set), optionally damaged."""
    with h5py.File(EMBEDDED, "r") as f:
        train, test = f["train"][:600], f["test"][:20]
    d = np.sqrt(((test[:, None, :].astype(np.float64) - train[None]) ** 2).sum(-1))
    neighbors = np.argsort(d, axis=1)[:, :k]
    distances = np.take_along_axis(d, neighbors, axis=1)
    parts = {"train": train, "test": test, "neighbors": neighbors, "distances": distances}
    if mutate:
        mutate(parts)
    write_dataset(path, parts["train"], parts["test"], parts["neighbors"], parts["distances"],
                  "euclidean")
    return str(path)


def _set(key, index, value):
    def mutate(parts):
        parts[key] = parts[key].astype(np.float64) if key == "train" else parts[key]
        parts[key][index] = value
    return mutate


@pytest.mark.parametrize("name, mutate, extra, message", [
    ("nan-train", _set("train", (417, 3), np.nan), [], "train holds NaN or inf (row 417)"),
    ("inf-test", _set("test", (5, 0), np.inf), [], "test holds NaN or inf (row 5)"),
    ("bad-id", _set("neighbors", (7, 4), 600), [],
     "neighbors row 7 holds id 600, outside the train set [0, 600)"),
    ("negative-id", _set("neighbors", (2, 0), -1), [], "neighbors row 2 holds id -1"),
    ("nan-distance", _set("distances", (3, 1), np.nan), [], "distances row 3 holds NaN"),
    ("narrow", None, ["-k", "200"],
     "the ground truth holds 20 neighbours per query, so recall@200 cannot be computed"),
])
def test_a_bad_dataset_is_one_clear_error_before_any_child(workspace, capsys, name, mutate,
                                                            extra, message):
    path = _dataset(workspace / f"{name}.hdf5", mutate)
    (workspace / "faults.yaml").write_text(algos(("a", 0, [1]), ("b", 0, [1])))
    assert cli_main(["run", "--dataset", path, "--definitions", "faults.yaml", "--quiet",
                     "--plot", *extra]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err
    assert not (workspace / "results").exists()  # nothing written, not even a folder


def test_ground_truth_narrower_than_k_is_a_clear_error_in_plot_and_export(workspace, capsys):
    """Results at a k the ground truth cannot score (written by an older runner or by hand):
    plot and export name the problem instead of crashing with an IndexError."""
    path = _dataset(workspace / "gt5.hdf5", k=5)
    (workspace / "faults.yaml").write_text(algos(("a", 0, [1])))
    assert cli_main(["run", "--dataset", path, "--definitions", "faults.yaml", "--quiet",
                     "-k", "5"]) == 0
    local = workspace / "results" / "local" / "gt5"
    (local / "5").rename(local / "8")
    for cmd in ("plot", "export"):
        assert cli_main([cmd, "--dataset", path, "-k", "8"]) == 2
        assert "the ground truth holds 5 neighbours per query" in capsys.readouterr().err


@pytest.mark.parametrize("yaml_text, message", [
    (algos(("a", 0, [1])).replace("query_args", "quer_args"),
     "run group 'g': unknown key 'quer_args' (did you mean 'query_args'?"),
    (algos(("a", 0, [1])).replace("base_args: []", "base_args: []\n    disabled: \"no\""),
     "algorithm 'sleepy-a': disabled must be true or false, got 'no'"),
    (algos(("a", 0, [1])).replace("args: [[a], [0]]", "args: [[a], [0], [9]]"),
     "algorithm 'sleepy-a', run group 'g', arguments [\"a\", 0, 9]: Sleepy(tag, seconds) "
     "cannot take them (too many positional arguments)"),
    (algos(("a", 0, [1])).replace("args: [[a], [0]]", "args: [[a], [soon]]"),
     "Sleepy refused them (ValueError: could not convert string to float: 'soon')"),
    (algos(("a", 0, [1])).replace("query_args: [[1]]", "query_args: [[1], [2]]"),
     "set_query_arguments(scale) cannot take the query arguments [1, 2]"),
    (algos(("a", 0, [1])).replace("module: faultalgo", "module: faultalgo_missing"),
     "cannot import faultalgo_missing.module (ModuleNotFoundError"),
])
def test_a_bad_definition_is_one_clear_error_naming_it(workspace, capsys, yaml_text, message):
    (workspace / "faults.yaml").write_text(yaml_text)
    assert cli_main(["run", "--definitions", "faults.yaml", "--quiet", "--plot"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert not (workspace / "results").exists()


def test_query_arguments_failing_in_the_child_are_counted_honestly(workspace, capsys):
    """A query argument refused after the build writes none of the definition's files; one that
    fails while querying keeps the files written before it, and the summary counts them."""
    (workspace / "faults.yaml").write_text(algos(("a", 0, [1, "x", 2]), ("b", 0, [1, 13, 2])))
    assert cli_main(["run", "--definitions", "faults.yaml", "--quiet", "--runs", "1"]) == 1
    out, err = capsys.readouterr()
    assert out.startswith("1 result files written, 0 definitions already done, 2 failed")
    assert "query arguments [\"x\"] refused: ValueError" in err
    assert "scale 13 fails while querying (after writing 1 of 3 result files)" in err
    files, hidden = entries_under(workspace / "results")
    assert [f.name for f in files] == ["b_0_1.hdf5"] and hidden == []


def test_a_second_run_on_the_same_results_refuses_or_waits(workspace):
    """While a run holds results/<dataset>/<k>, another run on them refuses at once (with
    --force too) naming the holder, or with --wait waits and then finds everything done; a run
    at another k is not held up."""
    (workspace / "faults.yaml").write_text(algos(("a", 2.5, [1])))
    marker = uuid.uuid4().hex
    base = ("--definitions", "faults.yaml", "--runs", "1", "--quiet")
    first = runner(workspace, *base, marker=marker)
    lock = workspace / "results" / "local" / "bigann-10k-128-euclidean" / "10" / ".annann-bench.lock"
    deadline = time.monotonic() + 30
    while not (lock.is_file() and lock.read_text().startswith(f"pid {first.pid}")):
        assert time.monotonic() < deadline and first.poll() is None
        time.sleep(0.05)
    refused = [runner(workspace, *base, *extra, marker=marker) for extra in ((), ("--force",))]
    other_k = runner(workspace, *base, "-k", "5", marker=marker)
    waiting = runner(workspace, *base, "--wait", "60", marker=marker)
    for second in refused:
        out, err = second.communicate(timeout=60)
        assert second.returncode == 2 and out == ""
        assert f"is in use by another annann-bench run (pid {first.pid}" in err
        assert "--force does not break the lock" in err
        assert first.poll() is None  # refused while the first was still running
    assert other_k.communicate(timeout=60)[0].startswith("1 result files written")
    assert first.communicate(timeout=60)[0].startswith("1 result files written")
    out, _ = waiting.communicate(timeout=90)
    assert waiting.returncode == 0
    assert out.startswith("0 result files written, 1 definitions already done")


def _killed(body):
    """Run body in a fresh process that SIGKILLs itself when it calls die()."""
    script = textwrap.dedent("""
        import os, signal
        import numpy as np
        from pathlib import Path
        import annann.core.atomic as atomic
        from annann.core.index_format import IndexWriter
        def die(*_):
            os.kill(os.getpid(), signal.SIGKILL)
    """) + textwrap.dedent(body)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()


def _save_index(path, size):
    with IndexWriter(path, "Demo", {"size": size}) as w:
        w.add_array("a", np.arange(size))


def test_leftovers_of_killed_saves_go_at_the_next_load_or_save(workspace):
    """A result save and two index saves killed midway (in the write; between the two renames of
    the swap): the next save of the index removes the first's temp directory, its next load the
    second's and puts the swapped-out index back, and the runner's next look at the results
    folder removes the result's temp file without touching the finished result."""
    (workspace / "faults.yaml").write_text(algos(("a", 0, [1])))
    assert cli_main(["run", "--definitions", "faults.yaml", "--quiet", "--runs", "1"]) == 0
    folder = workspace / "results" / "local" / "bigann-10k-128-euclidean" / "10" / "sleepy-a"
    result = folder / "a_0_1.hdf5"
    before = result.read_bytes()
    _killed(f"""
        with atomic.atomic_path(Path({str(result)!r})) as tmp:
            tmp.write_bytes(b"half a result file")
            die()
    """)
    assert len([p for p in folder.iterdir() if p.name.endswith(".tmp")]) == 1
    idx = workspace / "idx"
    _save_index(idx, 4)
    _killed(f"""
        with IndexWriter({str(idx)!r}, "Demo", {{"size": 6}}) as w:
            w.add_array("a", np.arange(6))
            die()
    """)
    assert [p.name.rsplit(".", 1)[1] for p in workspace.glob(".idx.*")] == ["tmp"]
    _killed(f"""
        real = os.replace
        def replace(src, dst):
            real(src, dst)
            if str(dst).endswith(".old"):
                die()
        atomic.os.replace = replace
        with IndexWriter({str(idx)!r}, "Demo", {{"size": 6}}) as w:
            w.add_array("a", np.arange(6))
    """)
    # that save cleaned the first one's temp directory; it left its own and the old index
    assert sorted(p.name.rsplit(".", 1)[1] for p in workspace.glob(".idx.*")) == ["old", "tmp"]
    assert not idx.exists()
    stored = read_index(idx, "Demo")  # a load: the swapped-out index is back, leftovers gone
    assert stored.params == {"size": 4} and list(workspace.glob(".idx.*")) == []
    assert cli_main(["run", "--definitions", "faults.yaml", "--quiet", "--runs", "1"]) == 0
    assert sorted(p.name for p in folder.iterdir()) == ["a_0_1.hdf5"]
    assert result.read_bytes() == before  # finished, so skipped: the killed save lost nothing
