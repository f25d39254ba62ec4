"""Tables of results: every point as CSV, the Pareto points per algorithm as Markdown."""

import csv
import io
from pathlib import Path

from annann.core.atomic import atomic_path

COLUMNS = ("algo", "name", "k-nn", "epsilon", "qps", "speedup", "p50", "p95", "p99", "build",
           "indexsize", "candidates", "distcomps")


def write_csv(table, out):
    """Write every result row (and whether it is Pareto-optimal) as CSV, atomically."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(COLUMNS + ("pareto",))
    pareto = {id(r) for a in table.algorithms() for r in table.pareto(a)}
    for r in sorted(table.rows, key=lambda r: (r["algo"], r["k-nn"])):
        w.writerow([_fmt(r[c]) for c in COLUMNS] + [int(id(r) in pareto)])
    return _write(out, buf.getvalue())


def read_csv(path):
    """The rows written by write_csv: numbers as floats, ``pareto`` as a bool ("nan"/"inf" kept)."""
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        if tuple(reader.fieldnames or ()) != COLUMNS + ("pareto",):
            raise ValueError(f"{path}: not a results CSV (columns {reader.fieldnames})")
        rows = []
        for line, rec in enumerate(reader, start=2):
            try:
                row = {c: (rec[c] if c in ("algo", "name") else float(rec[c])) for c in COLUMNS}
                row["pareto"] = bool(int(rec["pareto"]))
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{path}:{line}: unreadable row ({exc})") from exc
            rows.append(row)
    return rows


def markdown(table, header=""):
    """Markdown table of each algorithm's Pareto points, under an optional header."""
    lines = [header, ""] if header else []
    lines.append("| algorithm | parameters | recall | QPS | speedup vs brute force | p99 ms | build s "
                 "| index MB | dist comps |")
    lines.append("|---|---|---|---|---|---|---|---|---|")
    for algo in table.algorithms():
        for r in table.pareto(algo):
            lines.append(f"| {algo} | `{r['name']}` | {r['k-nn']:.4f} | {r['qps']:.0f} | "
                         f"{speedup_text(r)} | {r['p99']:.3f} | {r['build']:.2f} | "
                         f"{r['indexsize'] / 1024:.1f} | {r['distcomps']:.0f} |")
    return "\n".join(lines) + "\n"


def write_markdown(table, out, header=""):
    """Write markdown(table, header) to out atomically; returns the path."""
    return _write(out, markdown(table, header))


def speedup_text(r):
    """A row's speedup over brute force as table text ("-" when no brute-force run exists)."""
    return "-" if r["speedup"] != r["speedup"] else f"{r['speedup']:.1f}"


def _fmt(v):
    return f"{v:.6g}" if isinstance(v, float) else v


def _write(out, text):
    out = Path(out)
    with atomic_path(out) as tmp:
        Path(tmp).write_text(text)
    return out
