"""The scripts in examples/ run on the embedded SIFT set and print recalls above sensible floors."""

import os
import re
import subprocess
import sys

import pytest

from annann.data.datasets import DEFAULT_DATASET, EMBEDDED_DIR
from tests.paths import ROOT

EXAMPLES = ROOT / "examples"
EMBEDDED_FILE = str(EMBEDDED_DIR / f"{DEFAULT_DATASET}.hdf5")

# script -> (arguments, {printed line prefix: lowest acceptable value}, other required lines).
# Floors sit well below what the scripts print on 3,000 rows (0.97-0.996; LSH alone 0.96).
CASES = {
    "raw_cluster_index_example.py": (
        ["--n", "3000"], {"recall@10 (C=16)": 0.9},
        ["saved and loaded: 2910 vectors, identical results: True"]),
    "knn_graph_example.py": (
        ["--data", EMBEDDED_FILE, "--n", "3000"],
        {"graph recall": 0.95, "recall@10 (graph search": 0.9, "recall@10 (LSH alone": 0.8}, []),
    "annann_example.py": (
        ["--n", "3000", "--epochs", "2"], {"recall@10 (C=16)": 0.85},
        ["TensorFlow imported in this process: False"]),
    "neural_lsh_example.py": (
        ["--n", "3000", "--epochs", "4"], {"recall@10 (C=16)": 0.85},
        ["TensorFlow imported in this process: False"]),
}


def value_after(output, prefix):
    """The number after '): ' on the single output line starting with prefix."""
    lines = [line for line in output.splitlines() if line.startswith(prefix)]
    assert len(lines) == 1, f"expected one line starting with {prefix!r} in:\n{output}"
    match = re.search(r"\): ([0-9.]+)", lines[0])
    assert match, f"no value on {lines[0]!r}"
    return float(match.group(1))


def test_every_example_is_tested():
    """A new script in examples/ needs a case here."""
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(CASES)


@pytest.mark.parametrize("script", sorted(CASES))
def test_example_runs_and_reaches_recall(script, tmp_path):
    """Run in an empty directory without ANNANN_DATA_PATH, so the embedded dataset is found."""
    args, floors, required = CASES[script]
    env = {k: v for k, v in os.environ.items() if k != "ANNANN_DATA_PATH"}
    proc = subprocess.run([sys.executable, str(EXAMPLES / script), *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert out.startswith(f"{DEFAULT_DATASET}-n3000: 3000 x 128 euclidean, 100 queries"), out
    for prefix, floor in floors.items():
        assert value_after(out, prefix) >= floor, f"{prefix} below {floor}:\n{out}"
    for line in required:
        assert line in out.splitlines(), f"missing {line!r} in:\n{out}"
