"""Expand algos.yaml (the ann-benchmarks config.yml schema) into concrete run definitions.

Semantics follow the harness: entries under point type -> metric (plus ``any``); per run group,
``arg_groups`` wins over ``args`` and ``query_arg_groups`` over ``query_args``; a list is a list of
alternatives (cartesian product -> positional arguments), a dict becomes ONE positional argument
with its list values expanded; ``@metric``, ``@dimension`` and ``@count`` are substituted.

The file is read strictly: an unknown key at any level (a typo such as ``quer_args``), a value of
the wrong type (``disabled: "no"``) or a run group without arguments is a DefinitionError naming
the file, the entry, the run group and the key, before anything runs.
"""

import difflib
import itertools
from dataclasses import dataclass
from pathlib import Path

import yaml

REQUIRED = ("module", "constructor", "docker_tag")
ENTRY_KEYS = ("name", "module", "constructor", "docker_tag", "base_args", "run_groups",
              "disabled")
GROUP_KEYS = ("args", "arg_groups", "query_args", "query_arg_groups")
POINT_TYPES = ("float", "uint8", "bit")  # the harness's point types
METRIC_KEYS = ("any", "euclidean", "angular", "hamming", "jaccard")
# the source checkout: algos.yaml, pyproject.toml, the Dockerfile and docker/ live here
SOURCE_ROOT = Path(__file__).resolve().parents[2]


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
    validate_config(config, path)
    return config


def _unknown(key, known, where):
    """DefinitionError for an unknown key, with the closest known one suggested."""
    close = difflib.get_close_matches(str(key), known, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return DefinitionError(f"{where}: unknown key {key!r} ({hint}known: {', '.join(known)})")


def validate_config(config, path="algos.yaml"):
    """Check a parsed definitions file against the schema; raise DefinitionError at the first
    problem, naming the file, point type, metric, entry, run group and key."""
    for point_type, metrics in config.items():
        if point_type not in POINT_TYPES:
            raise _unknown(point_type, POINT_TYPES, f"{path}: point type")
        if metrics is None:
            continue
        if not isinstance(metrics, dict):
            raise DefinitionError(f"{path}: {point_type}: expected metric -> list of entries")
        for metric, items in metrics.items():
            where = f"{path}: {point_type}/{metric}"
            if metric not in METRIC_KEYS:
                raise _unknown(metric, METRIC_KEYS, f"{path}: {point_type}: metric")
            if items is None:
                continue
            if not isinstance(items, list):
                raise DefinitionError(f"{where}: expected a list of entries, got {items!r}")
            for entry in items:
                validate_entry(entry, where)


def validate_entry(entry, where):
    """Check one algorithm entry (see validate_config)."""
    if not isinstance(entry, dict):
        raise DefinitionError(f"{where}: an entry must be a mapping, got {entry!r}")
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        raise DefinitionError(f"{where}: an entry has no name: {entry!r}")
    where = f"{where}: algorithm {name!r}"
    for key in entry:
        if key not in ENTRY_KEYS:
            raise _unknown(key, ENTRY_KEYS, where)
    missing = [p for p in REQUIRED if p not in entry]
    if missing:
        raise DefinitionError(f"{where} is missing {', '.join(missing)}")
    for key in REQUIRED:
        if not isinstance(entry[key], str) or not entry[key]:
            raise DefinitionError(f"{where}: {key} must be a non-empty string, got {entry[key]!r}")
    if "disabled" in entry and not isinstance(entry["disabled"], bool):
        raise DefinitionError(f"{where}: disabled must be true or false, got "
                              f"{entry['disabled']!r}")
    if "base_args" in entry and not isinstance(entry["base_args"], list):
        raise DefinitionError(f"{where}: base_args must be a list, got {entry['base_args']!r}")
    groups = entry.get("run_groups")
    if not isinstance(groups, dict) or not groups:
        raise DefinitionError(f"{where}: run_groups must be a non-empty mapping of run group "
                              f"names to arguments, got {groups!r}")
    for group_name, group in groups.items():
        here = f"{where}, run group {group_name!r}"
        if not isinstance(group, dict):
            raise DefinitionError(f"{here}: expected a mapping with args or arg_groups, got "
                                  f"{group!r}")
        for key in group:
            if key not in GROUP_KEYS:
                raise _unknown(key, GROUP_KEYS, here)
        if "arg_groups" not in group and "args" not in group:
            raise DefinitionError(f"{here}: has neither args nor arg_groups")
        for key in ("arg_groups", "query_arg_groups"):
            if key in group and not isinstance(group[key], list):
                raise DefinitionError(f"{here}: {key} must be a list, got {group[key]!r}")
        for key in ("args", "query_args"):
            if key in group and not isinstance(group[key], (list, dict)):
                raise DefinitionError(f"{here}: {key} must be a list or a mapping, got "
                                      f"{group[key]!r}")


def entries(config, point_type, metric):
    """The entries for a point type and metric, ``any`` first, keyed by their unique name."""
    by_name = {}
    for key in ("any", metric):
        for entry in (config.get(point_type) or {}).get(key) or []:
            name = entry["name"]  # load_config validated the entries
            if name in by_name:
                raise DefinitionError(f"algorithm name {name!r} is defined twice")
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
                query_argument_groups=query_sets, disabled=entry.get("disabled", False),
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
    return SOURCE_ROOT / "algos.yaml"
