import re
import textwrap

import pytest

from ann_benchmarks_plugin.harness.definitions import (DefinitionError, algorithm_names, expand,
                                                       get_definitions)


def _yaml(tmp_path, text):
    p = tmp_path / "algos.yaml"
    p.write_text(textwrap.dedent(text))
    return p


ENTRY = """
float:
  any:
  - name: a
    module: m.a
    constructor: A
    docker_tag: ann-benchmarks-a
    base_args: ['@metric', '@dimension']
    run_groups:
      g1:
        args: [[1, 2], ['x', 'y'], 7]
        query_args: [[10, 20], [true]]
      g2:
        arg_groups: [{M: [4, 8], ef: 100}, [5]]
        args: [999]
        query_arg_groups: [{ef: [1, 2]}]
  euclidean:
  - name: b
    module: m.b
    constructor: B
    docker_tag: ann-benchmarks-b
    disabled: true
    base_args: ['@count']
    run_groups:
      only:
        args: []
  angular:
  - name: c
    module: m.c
    constructor: C
    docker_tag: ann-benchmarks-c
    run_groups:
      only:
        args: []
"""


def test_expand_follows_the_harness_semantics():
    assert expand([[1, 2], 3]) == [[1, 3], [2, 3]]
    assert expand({"M": [1, 2], "e": 5}) == [{"M": 1, "e": 5}, {"M": 2, "e": 5}]
    assert expand([]) == [[]]
    with pytest.raises(DefinitionError):
        expand(5)


def test_definitions_expand_args_arg_groups_and_placeholders(tmp_path):
    defs = get_definitions(_yaml(tmp_path, ENTRY), dimension=128, metric="euclidean", count=10)
    a = [d for d in defs if d.algorithm == "a"]
    assert [d.arguments for d in a] == [
        ["euclidean", 128, 1, "x", 7], ["euclidean", 128, 1, "y", 7],
        ["euclidean", 128, 2, "x", 7], ["euclidean", 128, 2, "y", 7],
        ["euclidean", 128, {"M": 4, "ef": 100}, 5], ["euclidean", 128, {"M": 8, "ef": 100}, 5],
    ]
    assert a[0].query_argument_groups == [[10, True], [20, True]]
    assert a[-1].query_argument_groups == [[{"ef": 1}], [{"ef": 2}]]
    b = [d for d in defs if d.algorithm == "b"]
    assert len(b) == 1 and b[0].arguments == [10] and b[0].disabled
    assert b[0].query_argument_groups == []
    assert not [d for d in defs if d.algorithm == "c"]  # angular only
    angular = get_definitions(_yaml(tmp_path, ENTRY), 25, metric="angular")
    assert sorted({d.algorithm for d in angular}) == ["a", "c"]
    assert algorithm_names(tmp_path / "algos.yaml") == ["a", "b", "c"]


def test_missing_required_field_and_duplicate_names_are_errors(tmp_path):
    p = _yaml(tmp_path, ENTRY.replace("    docker_tag: ann-benchmarks-b\n", ""))
    with pytest.raises(DefinitionError, match="'b' is missing docker_tag"):
        get_definitions(p, 4)
    p = _yaml(tmp_path, ENTRY.replace("name: c", "name: a").replace("  angular:", "  hamming:"))
    get_definitions(p, 4)  # different metric sections never meet
    p = _yaml(tmp_path, ENTRY.replace("name: b", "name: a"))
    with pytest.raises(DefinitionError, match="defined twice"):
        get_definitions(p, 4)


def test_bad_files(tmp_path):
    with pytest.raises(DefinitionError, match="no such definitions file"):
        get_definitions(tmp_path / "none.yaml", 4)
    with pytest.raises(DefinitionError, match="invalid YAML"):
        get_definitions(_yaml(tmp_path, "float: [unclosed"), 4)
    with pytest.raises(DefinitionError, match="neither args nor arg_groups"):
        get_definitions(_yaml(tmp_path, ENTRY.replace("args: []\n  angular",
                                                      "query_args: [[1]]\n  angular")), 4)


@pytest.mark.parametrize("old, new, message", [
    ("query_args: [[10, 20], [true]]", "quer_args: [[10, 20], [true]]",
     "algorithm 'a', run group 'g1': unknown key 'quer_args' (did you mean 'query_args'?"),
    ("    constructor: B\n", "    constructor: B\n    constuctor: B\n",
     "algorithm 'b': unknown key 'constuctor' (did you mean 'constructor'?"),
    ("disabled: true", 'disabled: "no"', "algorithm 'b': disabled must be true or false, got 'no'"),
    ("  euclidean:", "  euclidian:", "metric: unknown key 'euclidian' (did you mean 'euclidean'?"),
    ("float:", "flaot:", "point type: unknown key 'flaot' (did you mean 'float'?"),
    ("    base_args: ['@count']", "    base_args: '@count'", "base_args must be a list"),
    ("        args: [[1, 2], ['x', 'y'], 7]", "        args: 7", "args must be a list or a mapping"),
    ("    module: m.c\n", "    module: 3\n", "module must be a non-empty string, got 3"),
    ("    run_groups:\n      only:\n        args: []\n  angular",
     "    run_groups: {}\n  angular", "run_groups must be a non-empty mapping"),
])
def test_the_schema_is_strict_and_names_the_wrong_key(tmp_path, old, new, message):
    assert old in ENTRY
    p = _yaml(tmp_path, ENTRY.replace(old, new, 1))
    with pytest.raises(DefinitionError, match=re.escape(message)) as info:
        get_definitions(p, 4)  # the whole file is checked, whatever the metric asked
    assert str(p) in str(info.value)


def test_the_project_algos_yaml_is_valid_for_both_metrics():
    from ann_benchmarks_plugin.harness.definitions import default_definitions_path

    for metric in ("euclidean", "angular"):
        defs = get_definitions(default_definitions_path(), 128, metric=metric)
        names = {d.algorithm for d in defs}
        assert {"bruteforce", "hnswlib"} <= names
        for d in defs:
            assert d.module.startswith("ann_benchmarks_plugin.algorithms.")
            assert d.docker_tag.startswith("ann-benchmarks-")
