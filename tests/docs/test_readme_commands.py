"""The README's two set-up commands, run in both orders in a clone of this working tree: the main
job (`annann-bench run --plot`) writes nothing git tracks or sees, and the tests that check the
committed results pass before and after it.

The clone is a copy of every file git would keep (tracked, or untracked and not ignored),
committed into a fresh repository, with its own code first on the import path, and nothing
beside it: no ../shared/data, as for a user who clones the repository (the data the commands and
the default tests need ships inside it, in annann/data/). The venv and
`pip install` parts of the commands are left out (this venv serves). The fast test runs the main
command's code path with two algorithms and one timed pass, and of the test command the files
that read the committed results; the slow one runs both commands as written.
"""

import os
import re
import shlex
import shutil
import subprocess
import sys

import pytest

from tests.paths import ROOT

README = (ROOT / "README.md").read_text()
FAST_MAIN = ["--algorithm", "bruteforce", "--algorithm", "hnswlib", "--runs", "1"]
FAST_TESTS = ["tests/docs/test_result_tables.py"]


def readme_command(tag):
    """The last step (after the venv and pip steps) of the README's command tagged ``tag``."""
    block = re.search(rf"<!-- {tag} -->\n```\n(.*?)\n```", README, re.S)
    assert block, f"README has no <!-- {tag} --> command"
    return shlex.split(block.group(1).split("&&")[-1])


def make_clone(tmp_path):
    """A git repository holding a copy of the working tree as git sees it, alone in tmp_path
    (no ../shared beside it)."""
    clone = tmp_path / "clone"
    listing = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                             capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listing):
        src = ROOT / name
        if src.is_file():  # a tracked file deleted in the working tree is left out
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, clone / name)
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@localhost"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "clone"]):
        subprocess.run(git + args, cwd=clone, check=True, capture_output=True)
    return clone


def run_in(clone, argv, timeout):
    """Run a README command in the clone, with the clone's code first on the import path."""
    if argv[0] == "annann-bench":
        argv = [sys.executable, "-m", "ann_benchmarks_plugin.commands.cli"] + argv[1:]
    elif argv[0] in ("python", "python3"):
        argv = [sys.executable] + argv[1:]
    env = dict(os.environ, PYTHONPATH=str(clone))
    proc = subprocess.run(argv, cwd=clone, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(argv)}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def git_sees(clone):
    """What `git status` reports in the clone: changed tracked files and unignored new files."""
    return subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=clone,
                          capture_output=True, text=True, check=True).stdout


def both_orders(tmp_path, main, tests, timeout):
    clone = make_clone(tmp_path)
    assert run_in(clone, [sys.executable, "-c", "import ann_benchmarks_plugin as p; "
                          "print(p.__file__)"], 60).startswith(str(clone))
    run_in(clone, tests, timeout)  # tests first, on the fresh clone
    assert git_sees(clone) == ""
    out = run_in(clone, main, timeout)  # then the main job
    assert "wrote results/local/bigann-10k-128-euclidean.md" in out
    for suffix in (".png", "-build.png", ".csv", ".md"):
        assert (clone / "results" / "local" / f"bigann-10k-128-euclidean{suffix}").is_file()
    assert git_sees(clone) == ""  # nothing committed was touched, nothing new is unignored
    run_in(clone, tests, timeout)  # and the tests again, after the main job
    assert git_sees(clone) == ""


def test_readme_commands_in_both_orders_fast(tmp_path):
    main, tests = readme_command("main-command"), readme_command("test-command")
    assert main[:2] == ["annann-bench", "run"] and tests[1:3] == ["-m", "pytest"]
    both_orders(tmp_path, main + FAST_MAIN, tests + FAST_TESTS, timeout=300)


@pytest.mark.slow
def test_readme_commands_in_both_orders_as_written(tmp_path):
    both_orders(tmp_path, readme_command("main-command"), readme_command("test-command"),
                timeout=3600)
