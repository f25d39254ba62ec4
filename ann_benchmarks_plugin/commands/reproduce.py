"""annann-bench reproduce: regenerate the published results, dataset by dataset, resumably.

A target names a dataset, how many of its queries run (the first N, through a small derived file
``<name>-q<N>.hdf5`` whose ``train`` is an HDF5 external link to the source, so results are never
mixed with full-query ones), how many timed passes, and which run groups of ``algos.yaml`` run
on it. Every algorithm, ours and the peers, runs through the same runner; finished definitions
are skipped, so an interrupted run resumes where it stopped. The plots and tables are then
rewritten from all results present, under a provenance header (machine, date, versions,
command).
"""

import json
import os
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import h5py

from annann.core.atomic import atomic_path
from annann.core.cpus import usable_cpus
from annann.data.datasets import DatasetError, check_layout, dataset_name, find_dataset, get_dataset

from ..harness.definitions import SOURCE_ROOT
from ..harness.metrics import collect
from ..harness.provenance import machine_info as provenance_info
from ..harness.runner import ResultsLocked, run_benchmark
from ..reporting.export import markdown, speedup_text, write_csv
from ..reporting.plot import plot_build, plot_recall_qps

ALGORITHMS = ("annann", "annann-raw", "knngraph-lsh", "knngraph-random", "bruteforce", "hnswlib",
              "faiss-ivf-hnsw", "pynndescent", "glass", "symphonyqg", "rabitq-ivf", "scann",
              "lorann", "faiss-ivfpqfs")
IDX_DIRS = (Path("/usr/share/datasets/fashion-mnist"),)  # Debian package dataset-fashion-mnist
# The project's machines keep the real SIFT/GloVe files in shared/data beside the clone; searched
# after --data-dir, ./data and ANNANN_DATA_PATH.
SHARED_DATA = SOURCE_ROOT.parent / "shared" / "data"
SIZES = ("small", "medium", "large")
PACKAGES = ("numpy", "numba", "hnswlib", "scikit-learn", "tensorflow-cpu", "tensorflow",
            "faiss-cpu", "pynndescent", "pyglass-portable", "rabitqlib", "scann", "lorann", "h5py")


@dataclass(frozen=True)
class Target:
    """One dataset of the published results and what runs on it."""

    dataset: str
    size: str  # "small" (10k sets, minutes), "medium" (60k x 784) or "large" (1M, under an hour)
    queries: int = None  # first N test queries; None: all
    runs: int = 3  # timed passes over the queries (best kept)
    run_groups: tuple = ()  # ((algorithm, (group, ...)), ...): restrict those algorithms
    lanes: int = 1  # definitions run at a time, each pinned to one CPU (see runner.run_benchmark)

    def __post_init__(self):
        if self.size not in SIZES:
            raise ValueError(f"Target {self.dataset}: size must be one of {SIZES}, got {self.size!r}")

    @property
    def groups(self):
        """run_groups as the {algorithm: [groups]} the runner takes."""
        return {a: list(g) for a, g in self.run_groups}


# The learned-space variants (ae, dec) are compared in their own study (results/annann); here
# ANNANN runs its best variant only (and learned termination), which keeps the small sets to a
# few minutes; on the medium and large sets each peer runs its first (upstream's main) group,
# the studies in results/knngraph and results/cluster_index run the others. The small and
# medium sets run two definitions at a time, one per core: their time goes to one-time costs that
# do not need the whole machine (pynndescent's JIT compilation in every process, longer on a
# fresh install, docs/design-notes.md; ANNANN's training) and to single-threaded queries. The 1M
# set runs one at a
# time so that every build has both cores and the memory.
BEST_GROUPS = (("annann", ("ae-knn", "learned-stop")), ("annann-raw", ("4sqrt-n",)),
               ("knngraph-lsh", ("K-20",)), ("glass", ("R-32",)), ("symphonyqg", ("degree-32",)),
               ("rabitq-ivf", ("4sqrt-n-7bit",)), ("lorann", ("sqrt-n",)),
               ("scann", ("leaves-2000",)))
SLOW_FIRST = ("pynndescent", "annann")  # the longest builds start first so lanes end together
TARGETS = (
    Target("bigann-10k-128-euclidean", "small",
           run_groups=(("annann", ("ae-knn", "learned-stop")),), lanes=2),
    Target("glove-twitter-12k-25-angular", "small",
           run_groups=(("annann", ("ae-knn", "learned-stop")),), lanes=2),
    Target("fashion-mnist-784-euclidean", "medium", queries=1000, runs=1,
           run_groups=BEST_GROUPS, lanes=2),
    Target("fg-sift-128-euclidean", "large", queries=1000, runs=1,
           run_groups=BEST_GROUPS),
)


def source_path(target, data_dir):
    """Path of the target's full dataset, converting Fashion-MNIST from the Debian idx files."""
    path = find_dataset(target.dataset, data_dir)
    if path is None and SHARED_DATA.is_dir():
        path = find_dataset(target.dataset, str(SHARED_DATA))
    if path is not None:
        return Path(path)
    if target.dataset == "fashion-mnist-784-euclidean":
        for d in IDX_DIRS:
            train, test = d / "train-images-idx3-ubyte.gz", d / "t10k-images-idx3-ubyte.gz"
            if train.is_file() and test.is_file():
                from annann.data.convert import convert_idx

                return Path(convert_idx(train, test, Path(data_dir) / f"{target.dataset}.hdf5"))
        raise DatasetError(f"{target.dataset}: not found; install the idx files with "
                           "`apt-get install dataset-fashion-mnist` (or put the .hdf5 in "
                           f"{data_dir})")
    return Path(get_dataset(target.dataset, data_dir, download=True).path)


def query_subset(source, n_queries, out_dir):
    """A derived dataset with the first n_queries test rows and the source's train set (linked).

    Rewritten only when missing or built from a different source; written atomically.
    """
    source = Path(source).resolve()
    name = f"{dataset_name(source)}-q{n_queries}"
    out = Path(out_dir) / f"{name}.hdf5"
    if out.is_file():
        with h5py.File(out, "r") as f:
            if f.attrs.get("subset_of") == str(source) and f["test"].shape[0] == n_queries:
                return out
    with h5py.File(source, "r") as src:
        check_layout(src, str(source))
        if n_queries > src["test"].shape[0]:
            raise DatasetError(f"{source}: asked for {n_queries} queries, it has "
                               f"{src['test'].shape[0]}")
        out.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(out) as tmp, h5py.File(tmp, "w") as f:
            for key, value in src.attrs.items():
                f.attrs[key] = value
            f.attrs["subset_of"] = str(source)
            for key in ("test", "neighbors", "distances"):
                f.create_dataset(key, data=src[key][:n_queries])
            f["train"] = h5py.ExternalLink(str(source), "/train")
    return out


def machine_info(command):
    """Machine, date, package versions, git state and command, for every results file's header."""
    return provenance_info(command, PACKAGES, SOURCE_ROOT)


def provenance(info, target, n_queries, seconds, lanes=1):
    """Markdown lines naming what produced a results file."""
    versions = ", ".join(f"{k} {v}" for k, v in info["versions"].items())
    how = ("Definitions ran one at a time; builds used every core." if lanes == 1 else
           f"Definitions ran {lanes} at a time, each pinned to its own core; builds used that "
           f"one core.")
    return (f"Produced by `{info['command']}` on {info['date_utc']} (git {info['git']}): "
            f"{info['nproc']} cores ({info['cpu']}), python {info['python']}; {versions}. "
            f"Queries: {n_queries}, one at a time on one thread, best of {target.runs} pass(es). "
            f"{how} "
            f"Runner wall time for this dataset in this invocation: {seconds / 60:.1f} min "
            f"(finished definitions are skipped, so a resumed run shows only the rest). "
            f"1-min load average when written: {os.getloadavg()[0]:.1f} (shared machine: QPS "
            f"compares within one table).")


def write_reports(dataset, target, results_dir, info, seconds, lanes=1):
    """Plot, CSV and Markdown (with provenance) of every result of dataset; returns the paths."""
    table = collect(results_dir, dataset, 10, False)
    if not table.rows:
        raise DatasetError(f"no results for {dataset.name} under {results_dir}")
    stem = Path(results_dir) / dataset.name
    title = f"{dataset.name}: recall@10 vs QPS"
    md = Path(f"{stem}.md")
    with atomic_path(md) as tmp:
        Path(tmp).write_text(markdown(table, f"## {title} (Pareto points)\n\n" + provenance(
            info, target, dataset.test.shape[0], seconds, lanes)) + glance_table(table) + build_table(table))
    return [plot_recall_qps(table, f"{stem}.png", title),
            plot_build(table, f"{stem}-build.png", f"{dataset.name}: build time vs index size"),
            write_csv(table, f"{stem}.csv"), md]


def best_at(rows, level):
    """The row with the highest QPS among those reaching recall@k >= level (None if none does)."""
    ok = [r for r in rows if r["k-nn"] >= level]
    return max(ok, key=lambda r: r["qps"]) if ok else None


def glance_table(table, levels=(0.9, 0.95, 0.99)):
    """Markdown: per algorithm, the best QPS (and speedup) reaching each recall level."""
    head = " | ".join(f"QPS at recall >= {lv}" for lv in levels)
    lines = ["", "### At a glance (best QPS among settings reaching the recall; - = never)", "",
             f"| algorithm | {head} | max recall |", "|---|" + "---|" * (len(levels) + 1)]
    for algo in table.algorithms():
        rows = [r for r in table.rows if r["algo"] == algo]
        cells = []
        for lv in levels:
            best = best_at(rows, lv)
            cells.append("-" if best is None else
                         f"{best['qps']:.0f} ({speedup_text(best)}x bf)")
        lines.append(f"| {algo} | {' | '.join(cells)} | {max(r['k-nn'] for r in rows):.4f} |")
    return "\n".join(lines) + "\n"


def build_table(table):
    """Markdown table of build time and index size per built index (one row per build)."""
    lines = ["", "### Builds", "", "| algorithm | build s | index MB | best recall | QPS at best "
             "recall |", "|---|---|---|---|---|"]
    for algo in table.algorithms():
        rows = [r for r in table.rows if r["algo"] == algo]
        for build in sorted({(r["build"], r["indexsize"]) for r in rows}):
            same = [r for r in rows if (r["build"], r["indexsize"]) == build]
            best = max(same, key=lambda r: (r["k-nn"], r["qps"]))
            lines.append(f"| {algo} | {build[0]:.1f} | {build[1] / 1024:.1f} | "
                         f"{best['k-nn']:.4f} | {best['qps']:.0f} |")
    return "\n".join(lines) + "\n"


def reproduce(only="all", data_dir="data", results_dir="results", force=False, targets=TARGETS,
              algorithms=ALGORITHMS, definitions="algos.yaml", progress=True, command=None,
              parallelism=None):
    """Run every selected target; returns {dataset: "ok" | error message}.

    parallelism: definitions at a time for every target (None: each target's ``lanes``, capped
    by the CPUs this process may use).
    """
    if only not in SIZES + ("all",):
        raise ValueError(f"only: must be one of {', '.join(SIZES)} or all, got {only!r}")
    command = command or "annann-bench " + " ".join(shlex.quote(x) for x in sys.argv[1:])
    status = {}
    chosen = [t for t in targets if only == "all" or t.size == only]
    for i, target in enumerate(chosen, 1):
        print(f"[{i}/{len(chosen)}] {target.dataset} ({target.size})", flush=True)
        try:
            path = source_path(target, data_dir)
            if target.queries:
                path = query_subset(path, target.queries, data_dir)
            lanes = parallelism or min(target.lanes, usable_cpus())
            t0 = time.perf_counter()
            report = run_benchmark(str(path), list(algorithms), 10, target.runs, False, force,
                                   definitions, None, data_dir, results_dir,
                                   progress=progress, run_groups=target.groups,
                                   parallelism=lanes, first=SLOW_FIRST)
            seconds = time.perf_counter() - t0
            dataset = get_dataset(str(path), data_dir, download=False, progress=False)
            for out in write_reports(dataset, target, results_dir, machine_info(command),
                                     seconds, lanes):
                print(f"  wrote {out}", flush=True)
            status[target.dataset] = ("ok" if report.ok else
                                      "failed: " + "; ".join(f"{a}: {e}" for a, e in report.failed))
        except (DatasetError, OSError, ValueError, ResultsLocked) as exc:
            status[target.dataset] = f"error: {exc}"
        print(f"  {target.dataset}: {status[target.dataset]}", flush=True)
    summary = Path(results_dir) / f"reproduce-{only}.json"
    with atomic_path(summary) as tmp:
        Path(tmp).write_text(json.dumps({"command": command, "status": status}, indent=1))
    return status
