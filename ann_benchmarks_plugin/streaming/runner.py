"""Run a streaming runbook against algorithms: per search step recall@k (against the exact
ground truth of the active set), QPS, and the time of every insert/delete batch. The score is the
recall averaged over search steps, as in the NeurIPS'23 streaming track."""

import json
import platform
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from annann.core.atomic import atomic_path
from annann.core.distances import distances as exact_distances
from annann.data.evaluation import knn_recall

from .runbooks import resolve_order
from .algorithms import ClusterStream, HnswlibStream, Rebuild
from .groundtruth import active_groundtruth

ALGORITHMS = ("annann-raw", "annann-raw-static", "annann", "annann-static", "annann-nlsh",
              "annann-nlsh-static", "hnswlib", "hnswlib-static")
SPACE_OF = {"annann-raw": "raw", "annann": "autoencoder", "annann-nlsh": "graph-partition"}


def make_algorithm(name, dataset, n_clusters, C, ef, seed=0, annann_kwargs=None,
                   nlsh_kwargs=None):
    """Build a streaming algorithm by name; *-static variants rebuild at every search step.
    annann_kwargs / nlsh_kwargs: extra constructor arguments of AnnannIndex / NeuralLshIndex."""
    metric, dim, n = dataset.distance, dataset.dimension, dataset.train.shape[0]
    base = name[:-len("-static")] if name.endswith("-static") else name
    if base == "hnswlib":
        def make():
            return HnswlibStream(metric, dim, n, ef=ef, seed=seed)
    elif base in SPACE_OF:
        kwargs = {"annann": annann_kwargs, "annann-nlsh": nlsh_kwargs}.get(base) or {}

        def make():
            return ClusterStream(metric, SPACE_OF[base], n_clusters, C, seed, **kwargs)
    else:
        raise ValueError(f"unknown streaming algorithm {name!r}; known: {', '.join(ALGORITHMS)}")
    if name.endswith("-static"):
        return Rebuild(make, dataset.train, label=name)
    return make()


def run_stream(dataset, runbook, algo, count=10, n_queries=None, cache_dir=None, progress=True):
    """Replay runbook on algo; return the per-step records and the summary."""
    order = resolve_order(runbook.order, dataset.train)
    queries = dataset.test[:n_queries] if n_queries else dataset.test
    active = np.zeros(dataset.train.shape[0], dtype=bool)
    steps = []
    for i, step in enumerate(tqdm(runbook.steps, desc=algo.name, disable=not progress)):
        rec = {"step": i, "op": step["op"]}
        if step["op"] in ("insert", "delete"):
            ids = order[step["start"]:step["end"]]
            t0 = time.perf_counter()
            if step["op"] == "insert":
                algo.insert(dataset.train[ids], ids)
            else:
                algo.delete(ids)
            rec.update(seconds=time.perf_counter() - t0, n=int(ids.size))
            active[ids] = step["op"] == "insert"
        else:
            t0 = time.perf_counter()
            algo.prepare_search()
            rec["prepare_seconds"] = time.perf_counter() - t0
            active_ids = np.flatnonzero(active)
            _, true_d = active_groundtruth(dataset, runbook, i, active_ids, queries, count,
                                           cache_dir)
            found, times = [], np.empty(len(queries))
            with threadpool_limits(1):
                for j, q in enumerate(queries):
                    t0 = time.perf_counter()
                    r = algo.query(q, count)
                    times[j] = time.perf_counter() - t0
                    found.append(np.asarray(r, dtype=np.int64).reshape(-1)[:count])
            run_d = np.full((len(queries), count), np.inf)
            for j, ids in enumerate(found):
                ids = ids[ids >= 0]
                if ids.size and not active[ids].all():
                    raise AssertionError(f"{algo.name} returned a deleted or never inserted id at "
                                         f"step {i}")
                run_d[j, :ids.size] = exact_distances(queries[j], dataset.train[ids],
                                                      dataset.distance)
            k = min(count, active_ids.size)
            rec.update(active=int(active_ids.size),
                       recall=float(knn_recall(true_d, run_d, k).mean()),
                       qps=float(1.0 / times.mean()), p99_ms=float(np.percentile(times, 99) * 1e3))
        steps.append(rec)
    searches = [s for s in steps if s["op"] == "search"]
    summary = {
        "algorithm": algo.name,
        "score": float(np.mean([s["recall"] for s in searches])),
        "mean_qps": float(np.mean([s["qps"] for s in searches])),
        "insert_seconds": float(sum(s["seconds"] for s in steps if s["op"] == "insert")),
        "delete_seconds": float(sum(s["seconds"] for s in steps if s["op"] == "delete")),
        "prepare_seconds": float(sum(s["prepare_seconds"] for s in searches)),
    }
    return steps, summary


def save_stream_result(results_dir, dataset, runbook, algo_name, steps, summary, command=""):
    """Write one JSON result atomically under results/streaming/<dataset>/<runbook>/."""
    out = Path(results_dir) / "streaming" / dataset.name / runbook.name / f"{algo_name}.json"
    doc = {"dataset": dataset.name, "runbook": runbook.name, "summary": summary, "steps": steps,
           "runbook_yaml": runbook.to_yaml(), "command": command,
           "machine": {"python": platform.python_version(), "platform": platform.platform(),
                       "processor": platform.processor()},
           "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    with atomic_path(out) as tmp:
        Path(tmp).write_text(json.dumps(doc, indent=1))
    return out


def load_stream_results(results_dir, dataset_name, runbook_name):
    """The saved per-algorithm JSON documents of one dataset and runbook."""
    folder = Path(results_dir) / "streaming" / dataset_name / runbook_name
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
