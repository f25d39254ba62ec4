"""annann-bench's command line: every option's help names its default, numeric options are
range-checked in every subcommand, --quiet is quiet."""

import argparse
import textwrap

import pytest

from ann_benchmarks_plugin.commands.cli import build_parser
from ann_benchmarks_plugin.commands.cli import main as cli_main

# `website` is built by its own module (ann_benchmarks_plugin/commands/website.py), which owns
# its options.
OTHERS = {"website"}


def subcommands():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {name: p for name, p in sub.choices.items() if name not in OTHERS}


@pytest.mark.parametrize("name", sorted(subcommands()))
def test_every_option_has_help_naming_its_default(name):
    parser = subcommands()[name]
    formatter = parser._get_formatter()
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help, f"{name} {action.dest}: no help text"
        flag = action.nargs == 0  # store_true: off unless given
        if action.option_strings and not flag and not action.required:
            text = formatter._get_help_string(action)
            assert "default" in text.lower(), f"{name} {action.option_strings}: {text!r}"


def test_run_help_shows_the_defaults_of_runs_and_timeout(capsys):
    with pytest.raises(SystemExit):
        cli_main(["run", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "(the best is kept) (default: 5)" in out
    assert "before its child is killed (default: 7200)" in out
    assert "results root (default: results/local" in out


@pytest.mark.parametrize("argv, message", [
    (["stream", "--queries", "-5"], "argument --queries: must be an integer >= 1, got '-5'"),
    (["stream", "--queries", "0"], "argument --queries: must be an integer >= 1, got '0'"),
    (["stream", "--train-limit", "0"], "argument --train-limit: must be an integer >= 1"),
    (["stream", "--C", "x"], "argument --C: must be an integer >= 1, got 'x'"),
    (["stream", "--seed", "-1"], "argument --seed: must be an integer >= 0"),
    (["run", "--runs", "0"], "argument --runs: must be an integer >= 1, got '0'"),
    (["run", "--count", "0"], "argument --count/-k: must be an integer >= 1"),
    (["run", "--timeout", "0"], "argument --timeout: must be a number > 0, got '0'"),
    (["run", "--timeout", "nan"], "argument --timeout: must be a number > 0, got 'nan'"),
    (["run", "--wait", "-1"], "argument --wait: must be a number >= 0"),
    (["run", "--max-n", "0"], "argument --max-n: must be an integer >= 1"),
    (["run", "--parallelism", "0"], "argument --parallelism: must be an integer >= 1"),
    (["plot", "-k", "-3"], "argument --count/-k: must be an integer >= 1, got '-3'"),
    (["export", "--count", "1.5"], "argument --count/-k: must be an integer >= 1, got '1.5'"),
    (["reproduce", "--parallelism", "0"], "argument --parallelism: must be an integer >= 1"),
    (["convert", "synthetic", "--out", "x.hdf5", "--dim", "0"], "argument --dim: must be an "
                                                                "integer >= 1"),
    (["build-graph", "--input", "x", "--output", "y", "--k", "0"],
     "argument --k: must be an integer >= 1"),
])
def test_bad_option_values_are_refused_with_the_option_named(capsys, argv, message):
    with pytest.raises(SystemExit) as info:
        cli_main(argv)
    assert info.value.code == 2 and message in capsys.readouterr().err


def test_stream_refuses_more_queries_than_the_set_has(capsys):
    assert cli_main(["stream", "--queries", "101", "--algorithm", "hnswlib"]) == 2
    assert "--queries 101: bigann-10k-128-euclidean has 100 test queries" in \
        capsys.readouterr().err


def test_quiet_prints_only_the_summary(tmp_path, monkeypatch, capfd):
    """No progress bars and no per-definition lines, from the runner or its children."""
    (tmp_path / "algos.yaml").write_text(textwrap.dedent("""
        float:
          any:
          - name: bruteforce
            module: ann_benchmarks_plugin.algorithms.bruteforce
            constructor: BruteForce
            docker_tag: ann-benchmarks-bruteforce
            base_args: ['@metric']
            run_groups: {exact: {args: []}}
    """))
    monkeypatch.chdir(tmp_path)
    assert cli_main(["run", "--runs", "1", "--quiet"]) == 0
    out, err = capfd.readouterr()
    assert out == "1 result files written, 0 definitions already done, 0 failed\n"
    assert err == ""


@pytest.mark.parametrize("module", ["yaml", "matplotlib", "docker", "psutil"])
def test_a_missing_plugin_dependency_names_the_extra(monkeypatch, capsys, module):
    """`pip install annann` gives the library alone: annann-bench then says which extra it
    needs instead of a traceback; another missing module still raises."""
    def missing(a):
        raise ModuleNotFoundError(f"No module named {module!r}", name=module)

    monkeypatch.setattr("ann_benchmarks_plugin.commands.cli.cmd_datasets", missing)
    assert cli_main(["datasets"]) == 2
    err = capsys.readouterr().err
    assert f"{module} is missing" in err and "pip install 'annann[plugin]'" in err


def test_another_missing_module_is_not_hidden(monkeypatch):
    def missing(a):
        raise ModuleNotFoundError("No module named 'nothing_of_ours'", name="nothing_of_ours")

    monkeypatch.setattr("ann_benchmarks_plugin.commands.cli.cmd_datasets", missing)
    with pytest.raises(ModuleNotFoundError):
        cli_main(["datasets"])
