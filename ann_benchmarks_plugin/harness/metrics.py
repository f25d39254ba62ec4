"""Metrics of result files, with the harness's definitions (recall by distance threshold, QPS =
1 / best_search_time, latency percentiles in ms, distance computations per query) plus speedup
over brute force (seed 003's metric)."""

from dataclasses import dataclass

import numpy as np

from annann.data.datasets import DatasetError
from annann.data.evaluation import epsilon_recall, knn_recall

from .results import iter_results, load_result


def result_metrics(attrs, run_distances, times, true_distances):
    """Every metric of one result file as a flat dict."""
    count = int(attrs["count"])
    m = len(times)
    best = float(attrs["best_search_time"])
    run_count = int(attrs.get("run_count", 1))
    finite = np.where(np.isfinite(run_distances[:, :count]), run_distances[:, :count], 0.0)
    true_sum = float(np.sum(true_distances[:, :count]))
    return {
        "algo": attrs["algo"],
        "name": attrs["name"],
        "k-nn": float(knn_recall(true_distances, run_distances, count).mean()),
        "epsilon": float(epsilon_recall(true_distances, run_distances, count, 0.01).mean()),
        "largeepsilon": float(epsilon_recall(true_distances, run_distances, count, 0.1).mean()),
        "rel": float(finite.sum() / true_sum) if true_sum >= 0.01 else float("inf"),
        "qps": 1.0 / best,
        "p50": float(np.percentile(times, 50) * 1000.0),
        "p95": float(np.percentile(times, 95) * 1000.0),
        "p99": float(np.percentile(times, 99) * 1000.0),
        "p999": float(np.percentile(times, 99.9) * 1000.0),
        "build": float(attrs["build_time"]),
        "indexsize": float(attrs.get("index_size", 0.0)),
        "queriessize": float(attrs.get("index_size", 0.0)) * best,
        "candidates": float(attrs["candidates"]),
        "distcomps": float(attrs.get("dist_comps", 0)) / (run_count * m),
        "best_search_time": best,
    }


@dataclass
class MetricTable:
    """All result rows of one dataset/k/mode, ready for plots and tables."""

    rows: list

    def algorithms(self):
        """Sorted names of the algorithms present in the table."""
        return sorted({r["algo"] for r in self.rows})

    def pareto(self, algo, x="k-nn", y="qps"):
        """Rows of algo on the recall/QPS Pareto frontier, by increasing recall."""
        pts = sorted((r for r in self.rows if r["algo"] == algo), key=lambda r: (-r[x], -r[y]))
        front, best_y = [], -np.inf
        for r in pts:
            if r[y] > best_y:
                front.append(r)
                best_y = r[y]
        return front[::-1]


def collect(results_dir, dataset, count=10, batch=False):
    """Metrics for every complete result file of a dataset, with speedup over brute force.

    DatasetError if the dataset's ground truth is narrower than count (no recall@count)."""
    width = dataset.distances.shape[1]
    if count is not None and count > width:
        raise DatasetError(f"{dataset.name}: the ground truth holds {width} neighbours per query, "
                           f"so recall@{count} cannot be computed (use --count {width} or less)")
    rows = []
    for path, attrs in iter_results(results_dir, dataset.name, count, batch):
        attrs, _, run_dist, times = load_result(path)
        if run_dist.shape[0] != dataset.distances.shape[0]:
            continue
        row = result_metrics(attrs, run_dist, times, dataset.distances)
        row["path"] = str(path)
        rows.append(row)
    brute = [r["best_search_time"] for r in rows if r["algo"].startswith("bruteforce")]
    for r in rows:
        r["speedup"] = (min(brute) / r["best_search_time"]) if brute else float("nan")
    return MetricTable(rows)
