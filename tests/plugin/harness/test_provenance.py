"""Provenance of results: git state, package versions, machine description."""

import subprocess

from ann_benchmarks_plugin.harness.provenance import git_state, machine_info, package_versions


def test_git_state_ignores_rewritten_results(tmp_path):
    assert git_state(tmp_path) == "-"

    def git(*args):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path,
                       check=True, capture_output=True)

    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "x.md").write_text("old")
    (tmp_path / "code.py").write_text("a = 1")
    git("init", "-q")
    git("add", "-A")
    git("commit", "-qm", "init")
    (tmp_path / "results" / "x.md").write_text("new")
    state = git_state(tmp_path)
    assert state and not state.endswith("-dirty")
    (tmp_path / "code.py").write_text("a = 2")
    assert git_state(tmp_path) == state + "-dirty"


def test_package_versions_skips_missing_ones():
    versions = package_versions(["numpy", "no-such-package-xyz"])
    assert list(versions) == ["numpy"] and versions["numpy"][0].isdigit()


def test_machine_info_names_machine_date_and_command(tmp_path):
    info = machine_info("bench --x 1", ["numpy"], tmp_path)
    assert info["command"] == "bench --x 1" and info["git"] == "-"
    assert info["nproc"] >= 1 and info["cpu"] and info["date_utc"].endswith("UTC")
    assert info["mem_gib"] > 0 and info["load_avg"] >= 0 and "numpy" in info["versions"]
