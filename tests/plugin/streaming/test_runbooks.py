import re

import numpy as np
import pytest

from ann_benchmarks_plugin.streaming.runbooks import (GENERATORS, RunbookError, active_after,
                                                      get_runbook, load_runbook, parse_runbook,
                                                      resolve_order)


def _rb(steps, order=None):
    return {"name": "t", "order": order or {"kind": "identity"}, "steps": steps}


@pytest.mark.parametrize("steps, message", [
    ([{"op": "upsert", "start": 0, "end": 5}], "op must be one of"),
    ([{"op": "insert", "start": 0}], "needs integer start and end"),
    ([{"op": "insert", "start": 0, "end": 500}], "outside"),
    ([{"op": "search"}], "search with no active points"),
    ([{"op": "insert", "start": 0, "end": 10}, {"op": "insert", "start": 5, "end": 12}],
     "inserts position 5 twice"),
    ([{"op": "insert", "start": 0, "end": 10}, {"op": "delete", "start": 8, "end": 12}],
     "deletes position 10, which is not active"),
    ([{"op": "insert", "start": 0, "end": 10}], "no search step"),
])
def test_bad_runbooks_are_refused_with_the_step_named(steps, message):
    with pytest.raises(RunbookError, match=message):
        parse_runbook(_rb(steps), 100)


@pytest.mark.parametrize("data, message", [
    (_rb([{"op": "insert", "start": 0, "end": 10}, {"op": "search", "k": 5}]),
     "step 1 ({'op': 'search', 'k': 5}): unknown key 'k' (known: op)"),
    (_rb([{"op": "insert", "start": 0, "end": 10, "stop": 12}, {"op": "search"}]),
     "unknown key 'stop' (known: op, start, end)"),
    (dict(_rb([{"op": "insert", "start": 0, "end": 10}, {"op": "search"}]), step=[]),
     "runbook: unknown key 'step' (known: name, order, steps)"),
    (_rb([{"op": "insert", "start": 0, "end": 10}, {"op": "search"}],
         {"kind": "random", "sead": 3}), "order: unknown key 'sead'"),
])
def test_unknown_keys_are_refused_not_ignored(data, message):
    with pytest.raises(RunbookError, match=re.escape(message)):
        parse_runbook(data, 100)


def test_bad_structure():
    with pytest.raises(RunbookError, match="'steps'"):
        parse_runbook({"name": "x"}, 10)
    with pytest.raises(RunbookError, match="order must be"):
        parse_runbook(_rb([{"op": "search"}], {"kind": "sorted"}), 10)
    with pytest.raises(RunbookError, match="unknown runbook"):
        get_runbook("nope", 10)


def test_yaml_round_trip_and_active_set(tmp_path):
    rb = parse_runbook(_rb([{"op": "insert", "start": 0, "end": 10}, {"op": "search"},
                            {"op": "delete", "start": 2, "end": 4}, {"op": "search"}]), 20)
    (tmp_path / "rb.yaml").write_text(rb.to_yaml())
    again = load_runbook(tmp_path / "rb.yaml", 20)
    assert again.steps == rb.steps and again.order == rb.order
    assert np.flatnonzero(active_after(rb, 3, 20)).tolist() == [0, 1, 4, 5, 6, 7, 8, 9]
    (tmp_path / "bad.yaml").write_text("steps: [unclosed")
    with pytest.raises(RunbookError, match="cannot read"):
        load_runbook(tmp_path / "bad.yaml", 20)


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_generators_produce_valid_runbooks(name):
    rb = get_runbook(name, 1000)
    assert any(s["op"] == "search" for s in rb.steps)
    assert active_after(rb, len(rb.steps), 1000).any()


def test_orders_are_permutations_and_clustered_groups_neighbours(bigann10k):
    X = bigann10k.train
    for order in ({"kind": "identity"}, {"kind": "random", "seed": 3},
                  {"kind": "clustered", "n_clusters": 8, "seed": 0}):
        perm = resolve_order(order, X)
        assert np.array_equal(np.sort(perm), np.arange(len(X)))
    clustered = resolve_order({"kind": "clustered", "n_clusters": 8, "seed": 0}, X)
    assert np.array_equal(clustered, resolve_order({"kind": "clustered", "n_clusters": 8,
                                                    "seed": 0}, X))
    rand = resolve_order({"kind": "random", "seed": 0}, X)
    # consecutive rows of the clustered order are much closer than those of a random order
    gap = lambda p: np.linalg.norm(X[p[1:]] - X[p[:-1]], axis=1).mean()  # noqa: E731
    assert gap(clustered) < 0.9 * gap(rand)
