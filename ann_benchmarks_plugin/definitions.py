"""Expand algos.yaml (the ann-benchmarks config.yml schema) into concrete run definitions.

Semantics follow the harness: entries under point type -> metric (plus ``any``); per run group,
``arg_groups`` wins over ``args`` and ``query_arg_groups`` over ``query_args``; a list is a list of
alternatives (cartesian product -> positional arguments), a dict becomes ONE positional argument
with its list values expanded; ``@metric``, ``@dimension`` and ``@count`` are substituted.
"""

import itertools
from dataclasses import dataclass
from pathlib import Path

import yaml

REQUIRED = ("module", "constructor", "docker_tag")


class DefinitionError(ValueError):
    """algos.yaml is malformed or names something that does not exist."""


@dataclass
class Definition:
    """One constructor call plus the query argument groups to run on the built index."""

    algorithm: str
    constructor: str
    module: str
    docker_tag: str
    arguments: list
    query_argument_groups: list
    disabled: bool
    run_group: str = ""


def expand(args):
    """All combinations of a list (positional alternatives) or dict (keyword alternatives)."""
    if isinstance(args, list):
        choices = [a if isinstance(a, list) else [a] for a in args]
        return [list(c) for c in itertools.product(*choices)]
    if isinstance(args, dict):
        choices = [[(k, x) for x in v] if isinstance(v, list) else [(k, v)] for k, v in args.items()]
        return [dict(c) for c in itertools.product(*choices)]
    raise DefinitionError(f"arguments must be a list or a dict, got {type(args).__name__}: {args!r}")


def _expand_groups(groups):
    """arg_groups/query_arg_groups: each dict is first expanded into its alternatives."""
    if not isinstance(groups, list):
        raise DefinitionError(f"arg groups must be a list, got {groups!r}")
    return expand([expand(g) if isinstance(g, dict) else g for g in groups])


def substitute(arg, variables):
    """Replace '@metric'-style placeholders, recursively inside lists and dicts."""
    if isinstance(arg, dict):
        return {k: substitute(v, variables) for k, v in arg.items()}
    if isinstance(arg, list):
        return [substitute(a, variables) for a in arg]
    if isinstance(arg, str) and arg in variables:
        return variables[arg]
    return arg


def load_config(path):
    """Read a definitions YAML file; raise DefinitionError if it is unreadable or not a mapping."""
    path = Path(path)
    if not path.is_file():
        raise DefinitionError(f"{path}: no such definitions file")
    try:
        config = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise DefinitionError(f"{path}: invalid YAML ({exc})") from exc
    if not isinstance(config, dict):
        raise DefinitionError(f"{path}: expected point type -> metric -> entries")
    return config


def entries(config, point_type, metric):
    """The entries for a point type and metric, ``any`` first, keyed by their unique name."""
    by_name = {}
    for key in ("any", metric):
        for entry in (config.get(point_type) or {}).get(key) or []:
            name = entry.get("name")
            if not name:
                raise DefinitionError(f"an entry under {point_type}/{key} has no name: {entry!r}")
            if name in by_name:
                raise DefinitionError(f"algorithm name {name!r} is defined twice")
            missing = [p for p in REQUIRED if p not in entry]
            if missing:
                raise DefinitionError(f"algorithm {name!r} is missing {', '.join(missing)}")
            by_name[name] = entry
    return by_name


def definitions_for_entry(name, entry, dimension, metric, count):
    """Every Definition one entry produces, over all its run groups."""
    variables = {"@metric": metric, "@dimension": dimension, "@count": count}
    base = entry.get("base_args", [])
    out = []
    for group_name, group in (entry.get("run_groups") or {}).items():
        if "arg_groups" in group:
            arg_sets = _expand_groups(group["arg_groups"])
        elif "args" in group:
            arg_sets = expand(group["args"])
        else:
            raise DefinitionError(f"{name}: run group {group_name!r} has neither args nor arg_groups")
        if "query_arg_groups" in group:
            query_sets = _expand_groups(group["query_arg_groups"])
        elif "query_args" in group:
            query_sets = expand(group["query_args"])
        else:
            query_sets = []
        for args in arg_sets:
            full = list(base) + (args if isinstance(args, list) else [args])
            out.append(Definition(
                algorithm=name, constructor=entry["constructor"], module=entry["module"],
                docker_tag=entry["docker_tag"], arguments=substitute(full, variables),
                query_argument_groups=query_sets, disabled=bool(entry.get("disabled", False)),
                run_group=str(group_name)))
    return out


def get_definitions(path, dimension, point_type="float", metric="euclidean", count=10):
    """All definitions in a YAML file that apply to data of this point type and metric."""
    config = load_config(path)
    out = []
    for name, entry in entries(config, point_type, metric).items():
        out.extend(definitions_for_entry(name, entry, dimension, metric, count))
    return out


def algorithm_names(path):
    """Every algorithm name in a definitions file, across point types and metrics."""
    config = load_config(path)
    return sorted({e["name"] for metrics in config.values() if isinstance(metrics, dict)
                   for es in metrics.values() for e in (es or []) if isinstance(e, dict) and "name" in e})


def default_definitions_path():
    """./algos.yaml if present, else the algos.yaml of this source checkout."""
    here = Path.cwd() / "algos.yaml"
    if here.is_file():
        return here
    return Path(__file__).resolve().parents[1] / "algos.yaml"
