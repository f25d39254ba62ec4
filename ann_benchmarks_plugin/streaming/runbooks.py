"""Streaming runbooks: a sequence of insert / delete / search steps over a dataset's train rows.

A runbook is YAML::

    name: clustered
    order: {kind: clustered, n_clusters: 16, seed: 0}   # or identity / random
    steps:
      - {op: insert, start: 0, end: 100000}   # rows order[start:end] become active
      - {op: search}
      - {op: delete, start: 0, end: 50000}

Positions index a permutation of the train rows (``order``), so a clustered or shuffled stream is
compact to write; the external id of a vector is its train row. Validation replays the runbook and
refuses bad steps, inserting an active id again, deleting an absent id, or a key it does not know
(a typo would otherwise be ignored), with the step named.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

OPS = ("insert", "delete", "search")
ORDERS = ("identity", "random", "clustered")
RUNBOOK_KEYS = ("name", "order", "steps")
ORDER_KEYS = ("kind", "seed", "n_clusters")
STEP_KEYS = {"insert": ("op", "start", "end"), "delete": ("op", "start", "end"),
             "search": ("op",)}


class RunbookError(ValueError):
    """A runbook is malformed or would insert/delete the wrong ids."""


@dataclass
class Runbook:
    """A validated runbook: its name, the order of the train rows and the steps."""

    name: str
    order: dict
    steps: list

    def to_yaml(self):
        """The runbook as YAML text, readable by load_runbook."""
        return yaml.safe_dump({"name": self.name, "order": self.order, "steps": self.steps},
                              sort_keys=False, default_flow_style=None)


def parse_runbook(data, n_train):
    """Build a Runbook from a dict and validate it against a train set of n_train rows."""
    if not isinstance(data, dict) or "steps" not in data:
        raise RunbookError("a runbook is a mapping with a 'steps' list")
    _known_keys(data, RUNBOOK_KEYS, "runbook")
    order = data.get("order") or {"kind": "identity"}
    if not isinstance(order, dict) or order.get("kind") not in ORDERS:
        raise RunbookError(f"order must be a mapping with kind in {', '.join(ORDERS)}, got {order!r}")
    _known_keys(order, ORDER_KEYS, "order")
    steps = data["steps"]
    if not isinstance(steps, list) or not steps:
        raise RunbookError("'steps' must be a non-empty list")
    rb = Runbook(str(data.get("name", "runbook")), order, steps)
    validate(rb, n_train)
    return rb


def _known_keys(mapping, known, where):
    unknown = [k for k in mapping if k not in known]
    if unknown:
        raise RunbookError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(known)})")


def load_runbook(path, n_train):
    """Read and validate a runbook YAML file."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise RunbookError(f"{path}: cannot read runbook ({exc})") from exc
    return parse_runbook(data, n_train)


def validate(rb, n_train):
    """Replay the runbook over positions and raise RunbookError at the first bad step."""
    active = np.zeros(n_train, dtype=bool)
    searched = False
    for i, step in enumerate(rb.steps):
        where = f"step {i} ({step!r})"
        if not isinstance(step, dict) or step.get("op") not in OPS:
            raise RunbookError(f"{where}: op must be one of {', '.join(OPS)}")
        _known_keys(step, STEP_KEYS[step["op"]], where)
        if step["op"] == "search":
            if not active.any():
                raise RunbookError(f"{where}: search with no active points")
            searched = True
            continue
        start, end = step.get("start"), step.get("end")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (start, end)):
            raise RunbookError(f"{where}: {step['op']} needs integer start and end")
        if not 0 <= start < end <= n_train:
            raise RunbookError(f"{where}: range [{start}, {end}) is outside [0, {n_train})")
        span = active[start:end]
        if step["op"] == "insert" and span.any():
            pos = start + int(np.flatnonzero(span)[0])
            raise RunbookError(f"{where}: inserts position {pos} twice (it is already active)")
        if step["op"] == "delete" and not span.all():
            pos = start + int(np.flatnonzero(~span)[0])
            raise RunbookError(f"{where}: deletes position {pos}, which is not active")
        active[start:end] = step["op"] == "insert"
    if not searched:
        raise RunbookError("the runbook has no search step")


def resolve_order(order, train):
    """The permutation of train rows that runbook positions index (deterministic per seed)."""
    n = train.shape[0]
    kind = order["kind"]
    if kind == "identity":
        return np.arange(n, dtype=np.int64)
    rng = np.random.default_rng(int(order.get("seed", 0)))
    if kind == "random":
        return rng.permutation(n).astype(np.int64)
    from sklearn.cluster import MiniBatchKMeans

    k = int(order.get("n_clusters", 16))
    sample = train[rng.choice(n, size=min(n, 50_000), replace=False)]
    km = MiniBatchKMeans(n_clusters=k, random_state=int(order.get("seed", 0)), n_init=1,
                         batch_size=4096).fit(sample)
    labels = np.concatenate([km.predict(train[i:i + 200_000]) for i in range(0, n, 200_000)])
    return np.lexsort((rng.random(n), labels)).astype(np.int64)


def active_after(rb, upto, n_train):
    """Boolean mask over positions that are active after steps [0, upto)."""
    active = np.zeros(n_train, dtype=bool)
    for step in rb.steps[:upto]:
        if step["op"] != "search":
            active[step["start"]:step["end"]] = step["op"] == "insert"
    return active


# ---- generators -------------------------------------------------------------------------------

def _batches(start, end, n_batches):
    edges = np.linspace(start, end, n_batches + 1).astype(int)
    return list(zip(edges[:-1].tolist(), edges[1:].tolist()))


def uniform_growth(n, initial=0.1, n_batches=9, seed=0):
    """Build on a random `initial` fraction, insert the rest in batches, search after each."""
    first = max(1, int(n * initial))
    steps = [{"op": "insert", "start": 0, "end": first}, {"op": "search"}]
    for a, b in _batches(first, n, n_batches):
        steps += [{"op": "insert", "start": a, "end": b}, {"op": "search"}]
    return Runbook("uniform", {"kind": "random", "seed": seed}, steps)


def clustered_growth(n, initial=0.1, n_batches=9, n_clusters=16, seed=0):
    """As uniform_growth, but rows arrive cluster by cluster (k-means order): the data drifts."""
    rb = uniform_growth(n, initial, n_batches, seed)
    return Runbook("clustered", {"kind": "clustered", "n_clusters": n_clusters, "seed": seed},
                   rb.steps)


def sliding_window(n, window=0.3, n_slides=7, seed=0, clustered=True, n_clusters=16):
    """Keep the newest `window` fraction active: insert a batch, delete the oldest batch."""
    w = max(1, int(n * window))
    size = max(1, (n - w) // n_slides)
    steps = [{"op": "insert", "start": 0, "end": w}, {"op": "search"}]
    for i in range(n_slides):
        a, b = w + i * size, min(n, w + (i + 1) * size)
        steps += [{"op": "insert", "start": a, "end": b},
                  {"op": "delete", "start": i * size, "end": i * size + (b - a)},
                  {"op": "search"}]
    order = ({"kind": "clustered", "n_clusters": n_clusters, "seed": seed} if clustered
             else {"kind": "random", "seed": seed})
    return Runbook("sliding", order, steps)


def replace(n, initial=0.5, fraction=0.1, rounds=5, seed=0):
    """Start with `initial` of the data; each round delete a `fraction` batch, insert a fresh one."""
    first = max(1, int(n * initial))
    size = max(1, int(n * fraction))
    rounds = min(rounds, (n - first) // size)
    steps = [{"op": "insert", "start": 0, "end": first}, {"op": "search"}]
    for i in range(rounds):
        steps += [{"op": "delete", "start": i * size, "end": (i + 1) * size},
                  {"op": "insert", "start": first + i * size, "end": first + (i + 1) * size},
                  {"op": "search"}]
    return Runbook("replace", {"kind": "random", "seed": seed}, steps)


GENERATORS = {"uniform": uniform_growth, "clustered": clustered_growth,
              "sliding": sliding_window, "replace": replace}


def get_runbook(name_or_path, n_train, **params):
    """A generated runbook by name (params go to its generator), or a YAML file; validated."""
    if name_or_path in GENERATORS:
        rb = GENERATORS[name_or_path](n_train, **params)
        validate(rb, n_train)
        return rb
    if Path(name_or_path).is_file():
        return load_runbook(name_or_path, n_train)
    raise RunbookError(f"unknown runbook {name_or_path!r}: not a file and not one of "
                       f"{', '.join(GENERATORS)}")
