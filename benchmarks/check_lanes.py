"""Do two lanes change the QPS? `reproduce --only SIZE` with --parallelism 1 and 2.

Runs the sets of one size (small or medium) `--repeats` times in each mode (alternating, each
into its own results directory under --work, warm caches: run it once beforehand), then
compares the best QPS at recall 0.9 / 0.95 / 0.99 per algorithm: the spread between two runs
of the same mode is the machine's noise, against which the lanes-vs-serial difference is read.

    flock /tmp/annann-bench.lock python -m benchmarks.check_lanes          # small: ~15 min, 2 cores
    flock /tmp/annann-bench.lock python -m benchmarks.check_lanes --only medium   # ~30 min
    python -m benchmarks.check_lanes --compare-only --work DIR             # re-read finished runs
"""

import argparse
import math
import re
import statistics
import subprocess
import sys
from pathlib import Path

from ann_benchmarks_plugin.harness.metrics import collect
from ann_benchmarks_plugin.commands.reproduce import TARGETS, best_at, query_subset, source_path
from annann.data.datasets import get_dataset
from benchmarks.common import ROOT, run_info, write_atomic

LEVELS = (0.9, 0.95, 0.99)
MODES = {"serial": 1, "lanes": 2}


def run_names(repeats):
    """serial1, lanes1, serial2, lanes2, ...: the modes alternate so drift hits both."""
    return [f"{mode}{r}" for r in range(1, repeats + 1) for mode in MODES]


def best_qps(results_dir, dataset):
    """{algorithm: [best QPS at each level or None]} of one run directory."""
    table = collect(results_dir, dataset)
    out = {}
    for algo in table.algorithms():
        rows = [r for r in table.rows if r["algo"] == algo]
        out[algo] = [None if b is None else b["qps"] for b in (best_at(rows, lv) for lv in LEVELS)]
    return out


def header(results_dir, name):
    """(runner wall time in min, git state) from the header reproduce wrote for a dataset."""
    text = (Path(results_dir) / f"{name}.md").read_text()
    minutes = re.search(r"Runner wall time for this dataset in this invocation: ([0-9.]+) min",
                        text).group(1)
    return float(minutes), re.search(r"\(git ([^)]*)\)", text).group(1)


def log_ratios(a, b):
    """log(QPS a / QPS b) for every (algorithm, level) both runs reached (brute force left out)."""
    return [math.log(x / y) for algo in a if algo != "bruteforce" and algo in b
            for x, y in zip(a[algo], b[algo]) if x and y]


def spread(pairs, qps):
    """(median |change| %, geometric-mean ratio) over all pairs of runs."""
    lr = [v for a, b in pairs for v in log_ratios(qps[a], qps[b])]
    return (100 * (math.exp(statistics.median(abs(v) for v in lr)) - 1),
            math.exp(statistics.mean(lr)))


def report(work, names, data_dir, size):
    """Markdown comparing the runs under work."""
    info = run_info("check_lanes")
    serial = [n for n in names if n.startswith("serial")]
    lanes = [n for n in names if n.startswith("lanes")]
    lines = [f"# {size.capitalize()} sets: two lanes vs one at a time", "",
             f"Runs under `{work}` ({', '.join(names)}), compared on {info['date_utc']}: "
             f"{info['nproc']} cores ({info['cpu']}). Each run is "
             f"`annann-bench reproduce --only {size} --parallelism N` with warm JIT caches; cells "
             "are the best QPS at recall@10 >= 0.9 / 0.95 / 0.99, one column per run.", ""]
    for target in [t for t in TARGETS if t.size == size]:
        path = source_path(target, data_dir)
        if target.queries:  # the runs used the derived first-N-queries file, as reproduce does
            path = query_subset(path, target.queries, data_dir)
        dataset = get_dataset(str(path), data_dir, download=False, progress=False)
        qps = {n: best_qps(Path(work) / n, dataset) for n in names}
        heads = {n: header(Path(work) / n, dataset.name) for n in names}
        lines += [f"## {dataset.name}", "",
                  "| algorithm | " + " | ".join(f"recall {lv}: {', '.join(names)}" for lv in LEVELS)
                  + " |", "|---|" + "---|" * len(LEVELS)]
        for algo in qps[names[0]]:
            cells = [" / ".join("-" if qps[n].get(algo, [None] * 3)[i] is None else
                                f"{qps[n][algo][i]:,.0f}" for n in names) for i in range(3)]
            lines.append(f"| {algo} | " + " | ".join(cells) + " |")
        same_s = spread([(a, b) for a in serial for b in serial if a < b], qps)
        same_l = spread([(a, b) for a in lanes for b in lanes if a < b], qps)
        cross = spread([(a, b) for a in lanes for b in serial], qps)
        lines += ["", "| pairs of runs | median change of a QPS cell | geometric mean ratio |",
                  "|---|---|---|",
                  f"| serial vs serial | {same_s[0]:.1f} % | {same_s[1]:.3f} |",
                  f"| lanes vs lanes | {same_l[0]:.1f} % | {same_l[1]:.3f} |",
                  f"| lanes vs serial | {cross[0]:.1f} % | {cross[1]:.3f} (lanes / serial) |", "",
                  "Runner wall time (min) and git state of each run: " +
                  ", ".join(f"{n} {heads[n][0]:.1f} ({heads[n][1]})" for n in names), ""]
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=("small", "medium"), default="small", help="dataset size")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--work", default="/tmp/annann-lanes-check", help="run directories")
    ap.add_argument("--data-dir", default="data")
    ap.add_argument("--compare-only", action="store_true", help="only compare runs under --work")
    ap.add_argument("--out", help="report (default results/reproduce-SIZE-lanes-check.md)")
    a = ap.parse_args(argv)
    out = a.out or str(ROOT / f"results/reproduce-{a.only}-lanes-check.md")
    names = run_names(a.repeats)
    if not a.compare_only:
        for name in names:
            mode = name.rstrip("0123456789")
            subprocess.run([sys.executable, "-m", "ann_benchmarks_plugin.commands.cli", "reproduce",
                            "--only", a.only, "--quiet", "--data-dir", a.data_dir,
                            "--results-dir", str(Path(a.work) / name),
                            "--parallelism", str(MODES[mode])], check=True)
    text = report(a.work, names, a.data_dir, a.only)
    write_atomic(out, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
