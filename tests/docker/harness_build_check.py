"""Build time and index size through ann-benchmarks' own ``run.py --local``, numba cache cold vs
warm, beside faiss IVF-HNSW (our peer adapter) in the same harness.

Usage: harness_build_check.py CHECKOUT [ALGORITHM ...]   (default: annann-raw knngraph-lsh)

CHECKOUT is an ann-benchmarks checkout where ``annann-bench install-plugin`` has run, with
data/sift-128-euclidean.hdf5. Writes CHECKOUT/annann-build-check/<folder>/config.yml with one
build of each algorithm (the first run group of its installed config.yml, the first value of each
query argument) and, if faiss imports, faiss-ivf-hnsw (the peer adapter copied into the checkout).
Each runs with ``--runs 1 --force``: once with an empty NUMBA_CACHE_DIR (cold), then twice with the
same directory (warm); faiss three times. Prints a Markdown table; exits 1 if a cold build takes
more than 1.5x the mean warm one, or a mean index size is more than twice faiss's.
"""

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import h5py
import yaml

from ann_benchmarks_plugin.harness.definitions import load_config
from ann_benchmarks_plugin.harness.install import OUR_MODULE, PLUGIN_DIR, SOURCE_ROOT

DATASET = "sift-128-euclidean"
DEFS = "annann-build-check"
PEER = ("faiss-ivf-hnsw", "peer_faiss")
COLD_OVER_WARM = 1.5
# run.py's worker polls Queue.empty() before the feeder thread may have flushed the definition and
# then exits having run nothing (upstream race, frequent under load): such a run is repeated; it
# fits nothing, so a cold cache stays cold
RETRIES = 10
INDEX_OVER_FAISS = 2.0


def one_build(entry):
    """The entry with its first run group only, and the first value of each query argument."""
    name, group = next(iter(entry["run_groups"].items()))
    group = dict(group)
    if "query_args" in group:
        group["query_args"] = [[values[0]] for values in group["query_args"]]
    if "query_arg_groups" in group:
        group["query_arg_groups"] = group["query_arg_groups"][:1]
    return dict(entry, disabled=False, run_groups={name: group})


def write_definitions(checkout, algorithms):
    """The definitions folder: {algorithm: folder} of what was written."""
    adir = Path(checkout) / "ann_benchmarks" / "algorithms"
    out = Path(checkout) / DEFS
    shutil.rmtree(out, ignore_errors=True)
    where = {}
    for cfg_path in sorted(adir.glob("*/config.yml")):
        cfg = yaml.safe_load(cfg_path.read_text()) or {}
        for point_type, metrics in cfg.items():
            for metric, items in (metrics or {}).items():
                for entry in items or []:
                    if entry.get("name") in algorithms and entry["name"] not in where:
                        folder = cfg_path.parent.name
                        dest = out / folder / "config.yml"
                        dest.parent.mkdir(parents=True, exist_ok=True)
                        old = yaml.safe_load(dest.read_text()) if dest.exists() else {}
                        old.setdefault(point_type, {}).setdefault(metric, []).append(
                            one_build(entry))
                        dest.write_text(yaml.safe_dump(old, sort_keys=False))
                        where[entry["name"]] = folder
    missing = sorted(set(algorithms) - set(where) - {PEER[0]})
    if missing:
        raise SystemExit(f"not installed in {checkout}: {', '.join(missing)}")
    return where


def add_peer(checkout):
    """Copy the faiss IVF-HNSW adapter into the checkout and add its first build."""
    name, folder = PEER
    dest = Path(checkout) / "ann_benchmarks" / "algorithms" / folder
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(PLUGIN_DIR / folder / "module.py", dest / "module.py")
    config = load_config(SOURCE_ROOT / "algos.yaml")
    entry = next(e for ms in config.values() for es in ms.values() for e in es
                 if e["name"] == name)
    entry = dict(entry, module=entry["module"].replace(OUR_MODULE, "ann_benchmarks.algorithms."))
    out = Path(checkout) / DEFS / folder / "config.yml"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump({"float": {"any": [one_build(entry)]}}, sort_keys=False))


def run(checkout, algorithm, cache):
    """(build_time s, index_size kB) of one run.py --local run with NUMBA_CACHE_DIR=cache."""
    results = Path(checkout) / "results" / DATASET / "10" / algorithm
    for attempt in range(RETRIES):  # run.py's worker can exit before its queue is filled
        shutil.rmtree(results, ignore_errors=True)
        proc = subprocess.run(
            [sys.executable, "run.py", "--local", "--definitions", DEFS, "--dataset", DATASET,
             "--algorithm", algorithm, "--runs", "1", "--force"], cwd=checkout,
            env=dict(os.environ, NUMBA_CACHE_DIR=str(cache)), capture_output=True, text=True)
        files = sorted(results.glob("*.hdf5"))
        if files:
            with h5py.File(files[0], "r") as f:
                out = float(f.attrs["build_time"]), float(f.attrs["index_size"])
            shutil.rmtree(results)  # the checkout's results stay as the harness's own runs left them
            return out
    raise SystemExit(f"run.py wrote nothing for {algorithm}:\n{proc.stdout[-2000:]}\n"
                     f"{proc.stderr[-2000:]}")


def main(argv):
    checkout, algorithms = argv[0], argv[1:] or ["annann-raw", "knngraph-lsh"]
    with_peer = importlib.util.find_spec("faiss") is not None
    write_definitions(checkout, algorithms)
    if with_peer:
        add_peer(checkout)
    rows, problems, faiss_kb = [], [], None
    with tempfile.TemporaryDirectory(prefix="numba-cold-") as tmp:
        if with_peer:
            runs = [run(checkout, PEER[0], Path(tmp) / "peer") for _ in range(3)]
            faiss_kb = sum(kb for _, kb in runs) / len(runs)
            rows.append((PEER[0], "-", runs))
        for algorithm in algorithms:
            cache = Path(tmp) / algorithm
            cache.mkdir()
            cold = run(checkout, algorithm, cache)
            warm = [run(checkout, algorithm, cache) for _ in range(2)]
            rows.append((algorithm, cold, warm))
            mean_warm = sum(s for s, _ in warm) / len(warm)
            if cold[0] > COLD_OVER_WARM * mean_warm:
                problems.append(f"{algorithm}: cold build {cold[0]:.2f} s > {COLD_OVER_WARM}x "
                                f"the warm {mean_warm:.2f} s")
            mean_kb = sum(kb for _, kb in [cold] + warm) / 3
            if faiss_kb and mean_kb > INDEX_OVER_FAISS * faiss_kb:
                problems.append(f"{algorithm}: index {mean_kb:.0f} kB > {INDEX_OVER_FAISS}x "
                                f"faiss-ivf-hnsw's {faiss_kb:.0f} kB")
    print("| algorithm | build cold (s) | builds warm (s) | index cold (kB) | indexes warm (kB) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, cold, warm in rows:
        c_s, c_kb = ("-", "-") if cold == "-" else (f"{cold[0]:.2f}", f"{cold[1]:.0f}")
        print(f"| {name} | {c_s} | {', '.join(f'{s:.2f}' for s, _ in warm)} | {c_kb} | "
              f"{', '.join(f'{kb:.0f}' for _, kb in warm)} |")
    for p in problems:
        print(f"PROBLEM: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
