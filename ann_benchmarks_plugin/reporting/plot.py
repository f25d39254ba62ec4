"""Plots: recall vs QPS Pareto frontiers per algorithm, and build time vs index size."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from annann.core.atomic import atomic_path  # noqa: E402

MARKERS = "os^vD<>phX*"


def plot_recall_qps(table, out, title, x_scale="linear", x="k-nn"):
    """One Pareto frontier per algorithm: x = recall (linear or logit), y = QPS (log)."""
    fig, ax = plt.subplots(figsize=(8, 5.5))
    for i, algo in enumerate(table.algorithms()):
        front = table.pareto(algo, x=x)
        xs = [min(max(r[x], 1e-4), 1 - 1e-4) if x_scale == "logit" else r[x] for r in front]
        ys = [r["qps"] for r in front]
        ax.plot(xs, ys, marker=MARKERS[i % len(MARKERS)], label=algo, linewidth=1.5, markersize=5)
    if x_scale == "logit":
        ax.set_xscale("logit")
    ax.set_yscale("log")
    ax.set_xlabel(f"recall@k ({x}, by distance threshold)")
    ax.set_ylabel("queries per second (1 thread)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    return _save(fig, out)


def plot_build(table, out, title):
    """Build time (log) against index size, one marker per definition, by algorithm."""
    fig, ax = plt.subplots(figsize=(8, 5))
    for i, algo in enumerate(table.algorithms()):
        seen = {}
        for r in table.rows:
            if r["algo"] == algo:
                seen[r["path"].rsplit("/", 1)[0] + str(r["build"])] = r
        ax.scatter([r["build"] for r in seen.values()],
                   [max(r["indexsize"], 1.0) / 1024.0 for r in seen.values()],
                   marker=MARKERS[i % len(MARKERS)], label=algo)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("build time (s)")
    ax.set_ylabel("index size (MB, RSS growth during fit)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    return _save(fig, out)


def _save(fig, out):
    out = Path(out)
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=110, format=out.suffix.lstrip(".") or "png")
    plt.close(fig)
    return out
