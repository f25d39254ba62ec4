"""The published studies: one folder of results/ each (Markdown reports, JSON/CSV data).

Every folder that is not a result-file tree becomes a study page: its Markdown reports rendered,
with their provenance, plus interactive charts for the JSON documents a chart builder knows
(streaming runbooks, graph builds, learned vs k-means candidates, distributed builds, cluster
index vs faiss). A JSON that does not have the expected shape is listed as not charted, never
guessed at.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .data import is_export_csv, is_result_tree, json_provenance, slug
from .figures import COLORS, axis, figure_json

# folder -> (title, what it is); folders not listed get their name as title
KNOWN = {
    "streaming": ("Streaming: inserts and deletes",
                  "Recall, QPS and p99 latency over the steps of a runbook (inserts, deletes, "
                  "searches), dynamic indexes against the same index rebuilt at every search step "
                  "(-static)."),
    "knngraph": ("K-NN graph build",
                 "NN-descent graph build from an LSH start vs a random start vs pynndescent: graph "
                 "recall against build time, and search recall vs QPS on the built graphs."),
    "annann": ("Learned vs k-means candidates",
               "Does the learned space (autoencoder, DEC, k-NN term) pick better candidates than "
               "k-means on the original vectors? Candidates and QPS for the same recall."),
    "distributed": ("Distributed K-NN graph build",
                    "The K-NN graph built out of core on a Dask cluster against the single-machine "
                    "build: wall time, recall, and the cost of each round."),
    "cluster_index": ("Cluster index vs faiss IVF-HNSW",
                      "annann-raw (IVF with an HNSW over the centroids) against faiss "
                      "IVF<n>_HNSW32,Flat on the same C / nprobe ladder, alternating repeats."),
    "ab": ("A/B checks of the storage layout",
           "The same benchmarks on two checkouts, before and after a layout change."),
    "docker": ("Containers", "Every algorithm run in fresh containers, and through the real "
                             "ann-benchmarks harness."),
    "reproduce": ("Reproduce runs", "Checks of `annann-bench reproduce` itself (parallel lanes vs "
                                    "serial runs)."),
}
FIRST = ("README.md", "SUMMARY.md", "summary.md")


@dataclass
class Chart:
    """An interactive chart of a study: its figure JSON and the data file it was drawn from."""

    title: str
    figure: str
    source: str


@dataclass
class Study:
    """One study page: its reports, charts, and files that had no chart builder."""

    key: str
    title: str
    about: str
    reports: list
    charts: list = field(default_factory=list)
    not_charted: list = field(default_factory=list)
    provenances: list = field(default_factory=list)

    @property
    def slug(self):
        """The page's file name (without .html)."""
        return slug(self.key)


def discover(results_dir, dataset_stems=(), warnings=None):
    """Study folders of results_dir (and top-level reports of no dataset, as "reproduce").

    A folder that is a results root of its own (result files or exported tables one level down,
    like results/local/ of ad-hoc runs) is left out with a warning: build its own site."""
    results_dir = Path(results_dir)
    warnings = [] if warnings is None else warnings
    studies = []
    for folder in sorted(p for p in results_dir.iterdir() if p.is_dir()):
        if (folder.name.startswith(".") or is_result_tree(folder)
                or (folder / ".annann-site").exists()):
            continue
        if any(is_result_tree(c) for c in folder.iterdir()) or any(
                is_export_csv(c) for c in folder.glob("*.csv")):
            warnings.append(f"{folder.name}/: a results directory of its own, not a study; "
                            f"publish it with --results {folder}")
            continue
        reports = sorted(folder.rglob("*.md"),
                         key=lambda p: (p.name not in FIRST, str(p.relative_to(folder))))
        data = sorted(folder.rglob("*.json"))
        if not reports and not data:
            continue
        title, about = KNOWN.get(folder.name, (folder.name.replace("_", " ").capitalize(), ""))
        studies.append(Study(folder.name, title, about, reports))
    stray = [p for p in sorted(results_dir.glob("*.md"))
             if not any(p.stem == s or p.stem.startswith(s + "-run") for s in dataset_stems)]
    if stray:
        title, about = KNOWN["reproduce"]
        studies.append(Study("reproduce", title, about, stray))
    for study in studies:
        build_charts(study, results_dir)
    return studies


def build_charts(study, results_dir):
    """Fill study.charts from the JSON documents of its folder (and note the ones left out)."""
    folder = Path(results_dir) / study.key
    streaming = study.key == "streaming"
    if streaming:
        study.charts.extend(streaming_charts(results_dir, folder))
    builder = BUILDERS.get(study.key)
    for path in sorted(folder.rglob("*.json")) if folder.is_dir() else []:
        rel = str(path.relative_to(results_dir))
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            study.not_charted.append(f"{rel} (unreadable: {exc})")
            continue
        prov = json_provenance(doc, rel)
        if prov:
            study.provenances.append(prov)
        if streaming:  # charted per runbook folder above
            continue
        charts, why = [], "no chart for this kind of file"
        if builder is not None:
            try:
                charts = builder(doc, path.stem)
            except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
                why = f"not the shape the chart expects: {type(exc).__name__} {exc}"
        if charts:
            study.charts.extend(Chart(t, fig, rel) for t, fig in charts)
        else:
            study.not_charted.append(f"{rel} ({why})")


def _layout(fig, title, x, y, xlog=False, ylog=False, height=460):
    fig.update_layout(title={"text": title}, hovermode="closest", height=height,
                      margin={"t": 60, "r": 20},
                      xaxis=axis(x, xlog), yaxis=axis(y, ylog))
    return fig


def _repeat_marker(i, tag):
    """Marker of the i-th system: filled on the first repeat (or the only run), open on others."""
    first = tag in ("", " (repeat 1)")
    return {"color": COLORS[i % len(COLORS)], "size": 7,
            "symbol": "circle" if first else "circle-open"}


def streaming_charts(results_dir, folder):
    """Recall, QPS and p99 latency at each search step of each runbook; static (rebuilt) variants
    dashed."""
    from ...streaming.runner import load_stream_results

    charts = []
    runs = []
    for runbook_dir in sorted(p for p in folder.glob("*/*") if p.is_dir()):
        dataset, runbook = runbook_dir.parent.name, runbook_dir.name
        docs = load_stream_results(results_dir, dataset, runbook)
        if docs:
            runs.append((runbook_dir, dataset, runbook, docs))
    names = sorted({d["summary"]["algorithm"] for *_, docs in runs for d in docs})
    for runbook_dir, dataset, runbook, docs in runs:
        fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.07,
                            subplot_titles=("recall@10 on the active set", "queries per second",
                                            "p99 latency (ms)"))
        for doc in sorted(docs, key=lambda d: d["summary"]["algorithm"]):
            algo = doc["summary"]["algorithm"]
            i = names.index(algo)
            searches = [s for s in doc["steps"] if s["op"] == "search"]
            steps = list(range(1, len(searches) + 1))
            dash = "dash" if algo.endswith("-static") else "solid"
            color = COLORS[i % len(COLORS)]
            data = [[s.get("active"), s.get("p99_ms"), s["step"]] for s in searches]
            hover = ("runbook step %{customdata[2]}, active set %{customdata[0]:,}<br>"
                     "%{y:.4f}, p99 %{customdata[1]:.2f} ms<extra>" + algo + "</extra>")
            fig.add_trace(go.Scatter(x=steps, y=[s["recall"] for s in searches], name=
                                     f"{algo} (score {doc['summary']['score']:.3f})",
                                     legendgroup=algo, mode="lines+markers", customdata=data,
                                     line={"dash": dash, "color": color}, hovertemplate=hover),
                          row=1, col=1)
            fig.add_trace(go.Scatter(x=steps, y=[s["qps"] for s in searches], name=algo,
                                     legendgroup=algo, showlegend=False, mode="lines+markers",
                                     customdata=data, line={"dash": dash, "color": color},
                                     hovertemplate=hover.replace("%{y:.4f}", "%{y:,.0f} QPS")),
                          row=2, col=1)
            fig.add_trace(go.Scatter(x=steps, y=[s.get("p99_ms") for s in searches], name=algo,
                                     legendgroup=algo, showlegend=False, mode="lines+markers",
                                     customdata=data, line={"dash": dash, "color": color},
                                     hovertemplate=hover.replace("%{y:.4f}", "p99 %{y:.2f} ms")),
                          row=3, col=1)
        fig.update_layout(title={"text": f"{dataset}, runbook {runbook}"}, hovermode="closest",
                          height=820, margin={"t": 80, "r": 20})
        fig.update_xaxes(dtick=1)
        fig.update_xaxes(title_text="search step", row=3, col=1)
        charts.append(Chart(f"{dataset}, runbook {runbook}", figure_json(fig),
                            str(runbook_dir.relative_to(results_dir))))
    return charts


def knngraph_charts(doc, name):
    """Graph recall against build time per builder; search recall vs QPS per system."""
    out = []
    if "curves" in doc:
        fig = go.Figure()
        for builder, pts in doc["curves"].items():
            fig.add_trace(go.Scatter(
                x=[p["seconds"] for p in pts], y=[p["recall"] for p in pts], name=builder,
                mode="lines+markers",
                customdata=[[p["iteration"], p.get("dist_evals")] for p in pts],
                hovertemplate="iteration %{customdata[0]}: %{x:.1f} s, recall %{y:.4f}<br>"
                              "distance evals %{customdata[1]:,}<extra>" + builder + "</extra>"))
        for b in doc.get("builds", []):
            if b["name"] not in doc["curves"]:
                fig.add_trace(go.Scatter(x=[b["seconds"]], y=[b["recall"]], name=b["name"],
                                         mode="markers", marker={"size": 12, "symbol": "star"},
                                         customdata=[[b.get("note", "")]],
                                         hovertemplate="%{x:.1f} s, recall %{y:.4f}<br>"
                                                       "%{customdata[0]}<extra>" + b["name"] +
                                                       "</extra>"))
        meta = doc.get("meta", {})
        size = f" ({meta['n']:,} x {meta['dim']})" if "n" in meta and "dim" in meta else ""
        out.append((f"{name}: graph recall vs build time{size}",
                    figure_json(_layout(fig, f"{name}: graph recall vs build time{size}",
                                        "build time (s)", "graph recall"))))
    search = doc.get("search") or {}
    repeats = doc.get("repeats") if isinstance(doc.get("repeats"), list) else []
    if search or repeats:
        fig = go.Figure()
        runs = ([("", search)] if search else
                [(f" (repeat {i + 1})", r) for i, r in enumerate(repeats)])
        systems = sorted({s for _, r in runs for s in r})
        for tag, run in runs:
            for system, pts in run.items():
                i = systems.index(system)
                fig.add_trace(go.Scatter(
                    x=[p["recall"] for p in pts], y=[p["qps"] for p in pts], name=system + tag,
                    legendgroup=system, mode="markers", marker=_repeat_marker(i, tag),
                    customdata=[[str(p["param"])] for p in pts],
                    hovertemplate="parameter %{customdata[0]}<br>recall %{x:.4f}, QPS %{y:,.0f}"
                                  "<extra>" + system + tag + "</extra>"))
        out.append((f"{name}: search recall vs QPS",
                    figure_json(_layout(fig, f"{name}: search recall@10 vs QPS", "recall@10",
                                        "queries per second", ylog=True))))
    return out


def annann_charts(doc, name):
    """Per variant: recall against candidates scanned and against QPS (two panels)."""
    rows = doc["rows"]
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.1,
                        subplot_titles=("candidates per query", "queries per second"))
    variants = sorted({r["variant"] for r in rows})
    for i, v in enumerate(variants):
        pts = sorted((r for r in rows if r["variant"] == v), key=lambda r: r["C"])
        color = COLORS[i % len(COLORS)]
        for col, key in ((1, "candidates"), (2, "qps")):
            fig.add_trace(go.Scatter(
                x=[r[key] for r in pts], y=[r["recall"] for r in pts], name=v, legendgroup=v,
                showlegend=col == 1, mode="lines+markers", line={"color": color},
                customdata=[[r["C"], r["candidates"], r["qps"]] for r in pts],
                hovertemplate="C=%{customdata[0]}: recall %{y:.4f}<br>candidates "
                              "%{customdata[1]:,.0f}, QPS %{customdata[2]:,.0f}<extra>" + v +
                              "</extra>"), row=1, col=col)
    fig.update_xaxes(**{k: v for k, v in axis("", True).items() if k != "title"})
    fig.update_yaxes(title_text="recall@10", row=1, col=1)
    args = doc.get("args", {})
    size = f" ({doc.get('n_train', args.get('n', '?')):,} rows)" if "n_train" in doc else ""
    fig.update_layout(title={"text": f"{name}: recall vs candidates and QPS{size}"},
                      hovermode="closest", height=480, margin={"t": 80, "r": 20})
    return [(f"{name}: recall vs candidates and QPS", figure_json(fig))]


def distributed_charts(doc, name):
    """Per worker count of the distributed build: wall and CPU seconds against the single-machine
    build (for the cost model: the runs it was fitted on); per round: seconds and recall."""
    if "measured" in doc:
        pts = sorted(doc["measured"], key=lambda m: m["workers"])
        fig = go.Figure()
        for key, label in (("seconds", "distributed wall"), ("cpu_seconds", "distributed CPU")):
            fig.add_trace(go.Scatter(
                x=[m["workers"] for m in pts], y=[m[key] for m in pts], name=label,
                mode="lines+markers", customdata=[[m["recall"], m["rounds"]] for m in pts],
                hovertemplate="%{x} workers: %{y:.1f} s, graph recall %{customdata[0]:.4f}, "
                              "%{customdata[1]} rounds<extra>" + label + "</extra>"))
        for i, s in enumerate(doc.get("single", [])):
            for key, label in (("seconds", "single machine wall"),
                               ("cpu_seconds", "single machine CPU")):
                fig.add_trace(go.Scatter(
                    x=[m["workers"] for m in pts], y=[s[key]] * len(pts),
                    name=f"{label} #{i + 1}", mode="lines", line={"dash": "dot"},
                    hovertemplate=f"{label} #{i + 1}: %{{y:.1f}} s, graph recall "
                                  f"{s['recall']:.4f}<extra></extra>"))
        return [(f"{name}: build time against workers",
                 figure_json(_layout(fig, f"{name}: the 1M build on 1, 2 and 4 workers",
                                     "worker processes", "seconds")))]
    charts = []
    for run in doc["distributed"]:
        hist = run["history"]
        fig = make_subplots(specs=[[{"secondary_y": True}]])
        fig.add_trace(go.Bar(x=[h["round"] for h in hist], y=[h["seconds"] for h in hist],
                             name="seconds",
                             customdata=[[h["updates"], h["n_parts"]] for h in hist],
                             hovertemplate="round %{x}: %{y:.1f} s<br>%{customdata[0]:,} updates, "
                                           "%{customdata[1]} partitions<extra>seconds</extra>"))
        fig.add_trace(go.Scatter(x=[h["round"] for h in hist], y=[h["recall"] for h in hist],
                                 name="graph recall", mode="lines+markers",
                                 hovertemplate="after round %{x}: recall %{y:.4f}<extra></extra>"),
                      secondary_y=True)
        single = doc["single"]
        base = (f" vs single machine {sum(s['seconds'] for s in single) / len(single):.0f} s "
                f"(recall {single[0]['recall']:.4f})" if single else "")
        title = (f"{name}: {run['n']:,} rows, {run['workers']} worker(s), {run['seconds']:.0f} s "
                 f"(recall {run['recall']:.4f}){base}")
        fig.update_layout(title={"text": title}, height=440, margin={"t": 60, "r": 20},
                          xaxis={"title": {"text": "round"}})
        fig.update_yaxes(title_text="seconds", secondary_y=False, rangemode="tozero")
        fig.update_yaxes(title_text="graph recall", secondary_y=True, showgrid=False)
        charts.append((f"{name}: rounds on {run['workers']} worker(s)", figure_json(fig)))
    return charts


def cluster_index_charts(doc, name):
    """Recall vs QPS of annann-raw and faiss, one trace per system and repeat; for the k-means
    study, recall against vectors scanned per k-means variant."""
    if "rows" in doc and "lists" in doc:
        fig = go.Figure()
        for r in doc["rows"]:
            label = f"{r['passes']} passes, {r['refine']} Lloyd refinements"
            pts = r["points"]
            fig.add_trace(go.Scatter(
                x=[p["scanned"] for p in pts], y=[p["recall"] for p in pts], name=label,
                mode="lines+markers", customdata=[[p["C"], r["kmeans_s"], r["cv"]] for p in pts],
                hovertemplate="C=%{customdata[0]}: recall %{y:.4f}, %{x:,.0f} vectors scanned<br>"
                              "k-means %{customdata[1]:.1f} s, cluster size cv %{customdata[2]:.2f}"
                              "<extra>" + label + "</extra>"))
        return [(f"{name}: recall vs vectors scanned",
                 figure_json(_layout(fig, f"{name}: recall@10 vs vectors scanned ({doc['lists']:,} "
                                     "lists)", "vectors scanned per query", "recall@10",
                                     xlog=True)))]
    if "repeats" in doc:
        runs = [(f" (repeat {i + 1})", rows) for i, rows in enumerate(doc["repeats"])]
    else:
        runs = [("", doc["points"])]
    fig = go.Figure()
    systems = sorted({r["system"] for _, rows in runs for r in rows})
    for tag, rows in runs:
        for i, system in enumerate(systems):
            pts = [r for r in rows if r["system"] == system]
            scanned = "scanned" if pts and "scanned" in pts[0] else "candidates"
            fig.add_trace(go.Scatter(
                x=[r["recall"] for r in pts], y=[r["qps"] for r in pts], name=system + tag,
                legendgroup=system, mode="markers", marker=_repeat_marker(i, tag),
                customdata=[[str(r.get("param", r.get("params"))), r.get(scanned)] for r in pts],
                hovertemplate="%{customdata[0]}: recall %{x:.4f}, QPS %{y:,.0f}<br>vectors "
                              "scanned %{customdata[1]:,.0f}<extra>" + system + tag + "</extra>"))
    n = f" ({doc['n']:,} rows, {doc['lists']} lists)" if "n" in doc and "lists" in doc else ""
    return [(f"{name}: recall vs QPS",
             figure_json(_layout(fig, f"{name}: recall@10 vs QPS{n}", "recall@10",
                                 "queries per second", ylog=True)))]


BUILDERS = {"knngraph": knngraph_charts, "annann": annann_charts,
            "distributed": distributed_charts, "cluster_index": cluster_index_charts}
