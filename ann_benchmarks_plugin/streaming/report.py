"""Streaming results as a plot (recall at each search step, per algorithm) and a Markdown table."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from annann.core.atomic import atomic_path  # noqa: E402


def plot_stream(docs, out, title):
    """Plot recall at each search step for every algorithm to a PNG at out."""
    fig, ax = plt.subplots(figsize=(8, 5))
    for doc in docs:
        searches = [s for s in doc["steps"] if s["op"] == "search"]
        style = "--" if doc["summary"]["algorithm"].endswith("-static") else "-"
        ax.plot(range(1, len(searches) + 1), [s["recall"] for s in searches], style, marker="o",
                label=f"{doc['summary']['algorithm']} (score {doc['summary']['score']:.3f})")
    ax.set_xlabel("search step")
    ax.set_ylabel("recall@10 on the active set")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    out = Path(out)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return out


def stream_table(docs):
    """Markdown table of the algorithms' streaming summaries, best score first."""
    lines = ["| algorithm | score (mean recall@10) | min recall | mean QPS | insert s | delete s "
             "| rebuild s |", "|---|---|---|---|---|---|---|"]
    for doc in sorted(docs, key=lambda d: -d["summary"]["score"]):
        s = doc["summary"]
        rmin = min(x["recall"] for x in doc["steps"] if x["op"] == "search")
        lines.append(f"| {s['algorithm']} | {s['score']:.4f} | {rmin:.4f} | {s['mean_qps']:.0f} | "
                     f"{s['insert_seconds']:.2f} | {s['delete_seconds']:.2f} | "
                     f"{s['prepare_seconds']:.2f} |")
    return "\n".join(lines) + "\n"
