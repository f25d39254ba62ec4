"""Plotly figures of dataset results: recall vs a measure (every metric pairing upstream plots),
build time vs index size, and one algorithm's curves on every dataset.

Each figure is returned as a plotly JSON string without its template: the pages share one template
(assets/template.js), so a page carrying 32 figure variants does not carry 32 copies of it.
"""

import json
import math

import plotly.graph_objects as go
import plotly.io as pio

from .data import MEASURES, METRICS, RECALLS, pareto_front, parameter_split, parse_name, usable

COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
          "#bcbd22", "#17becf", "#393b79", "#ad494a", "#637939", "#843c39", "#7b4173", "#3182bd")
SYMBOLS = ("circle", "square", "diamond", "triangle-up", "x", "cross", "triangle-down", "star",
           "pentagon", "hexagon", "triangle-left", "triangle-right")
DEFAULT_VARIANT = "k-nn|qps|x"

# customdata columns of a result point, and the hover text that shows them
HOVER_FIELDS = ("name", "k-nn", "epsilon", "qps", "p99", "build", "indexsize", "distcomps")
HOVER = ("<b>%{customdata[0]}</b><br>"
         "k-nn recall %{customdata[1]:.4f}, epsilon recall %{customdata[2]:.4f}<br>"
         "QPS %{customdata[3]:,.0f}, p99 %{customdata[4]:.3f} ms<br>"
         "build %{customdata[5]:.2f} s, index %{customdata[6]:,.0f} kB<br>"
         "distance computations/query %{customdata[7]:,.0f}")


def template_json():
    """The template every page applies to its figures (plotly's "plotly_white")."""
    return json.dumps(pio.templates["plotly_white"].to_plotly_json(), allow_nan=False)


def figure_json(fig):
    """Plotly JSON of fig without the template (the page applies the shared one)."""
    spec = json.loads(fig.to_json())
    spec["layout"].pop("template", None)
    return json.dumps(spec, separators=(",", ":"))


def style(i):
    """Color and marker symbol of the i-th algorithm (stable across the site by name order)."""
    return COLORS[i % len(COLORS)], SYMBOLS[i % len(SYMBOLS)]


def _clean(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def customdata(rows):
    """The hover columns of each row (None where a value is missing or not finite)."""
    return [[_clean(r.get(f)) for f in HOVER_FIELDS] for r in rows]


def axis(label, log=False):
    """Axis settings: log axes labelled 1, 2, 5 per decade with SI suffixes (20k, 5M)."""
    spec = {"title": {"text": label}, "type": "log" if log else "linear"}
    return {**spec, "tickformat": "~s", "dtick": "D2"} if log else spec


def _axis(key):
    label, _, log = METRICS[key]
    return axis(label, log)


def variant_keys():
    """Every pre-rendered pairing: recall metric, measure, and which axis the recall is on."""
    return [f"{r}|{m}|{side}" for r in RECALLS for m in MEASURES for side in ("x", "y")]


def recall_figure(rows, algorithms, recall, measure, recall_on="x", title=""):
    """One trace per algorithm: its Pareto frontier of (recall, measure), lines and markers.

    Algorithms without a usable value of the measure (e.g. distance computations not counted) keep
    an empty trace, so every variant has the same legend."""
    fig = go.Figure()
    x, y = (recall, measure) if recall_on == "x" else (measure, recall)
    for i, algo in enumerate(algorithms):
        pts = [r for r in rows if r["algo"] == algo and usable(r, recall) and usable(r, measure)]
        front = pareto_front(pts, recall, measure)
        color, symbol = style(i)
        fig.add_trace(go.Scatter(
            x=[r[x] for r in front], y=[r[y] for r in front], mode="lines+markers",
            name=algo if front else f"{algo} (no {measure})", legendgroup=algo,
            marker={"color": color, "symbol": symbol, "size": 7}, line={"color": color},
            customdata=customdata(front), hovertemplate=HOVER + f"<extra>{algo}</extra>"))
    fig.update_layout(title={"text": title}, xaxis=_axis(x), yaxis=_axis(y), hovermode="closest",
                      legend={"title": {"text": "click to hide / show"}}, height=560,
                      margin={"t": 60, "r": 20})
    return fig


def dataset_variants(ds):
    """{variant key: figure JSON} for a dataset: every recall x measure x axis side."""
    algorithms = ds.algorithms()
    out = {}
    for key in variant_keys():
        recall, measure, side = key.split("|")
        title = f"{ds.stem}: {METRICS[recall][0]} vs {METRICS[measure][0]} (Pareto frontiers)"
        out[key] = figure_json(recall_figure(ds.rows, algorithms, recall, measure, side, title))
    return out


def builds(rows):
    """One entry per build of an algorithm (rows sharing build time and index size), with the
    build parameters and the query parameter values it was searched with."""
    build_params, query_params = parameter_split(rows)
    groups = {}
    for r in rows:
        groups.setdefault((r["build"], r["indexsize"]), []).append(r)
    out = []
    for (build, size), grp in sorted(groups.items(), key=lambda kv: kv[0]):
        parsed = [parse_name(r["name"])[1] for r in grp]
        if all(p is not None for p in parsed):
            fixed = ", ".join(f"{p}={parsed[0][p]}" for p in build_params if p in parsed[0])
            varied = "; ".join(
                f"{p} in {{{', '.join(sorted({q[p] for q in parsed if p in q}, key=_num))}}}"
                for p in query_params)
        else:
            fixed, varied = ", ".join(sorted({r["name"] for r in grp})), ""
        out.append({"build": build, "indexsize": size, "build_params": fixed or "-",
                    "query_params": varied or "-", "points": len(grp),
                    "best_recall": max(r["k-nn"] for r in grp)})
    return out


def _num(text):
    try:
        return (0, float(text), "")
    except ValueError:
        return (1, 0.0, text)


def build_figure(ds):
    """Build time against index size, one marker per build, one trace per algorithm."""
    fig = go.Figure()
    for i, algo in enumerate(ds.algorithms()):
        bs = [b for b in builds([r for r in ds.rows if r["algo"] == algo])
              if usable(b, "build")]
        color, symbol = style(i)
        fig.add_trace(go.Scatter(
            x=[b["build"] for b in bs], y=[max(b["indexsize"], 1.0) / 1024.0 for b in bs],
            mode="markers", name=algo, marker={"color": color, "symbol": symbol, "size": 10},
            customdata=[[b["build_params"], b["query_params"], b["points"], b["best_recall"],
                         b["indexsize"]] for b in bs],
            hovertemplate=("<b>" + algo + "(%{customdata[0]})</b><br>searched with "
                           "%{customdata[1]} (%{customdata[2]} points)<br>build %{x:.2f} s, index "
                           "%{customdata[4]:,.0f} kB<br>best k-nn recall %{customdata[3]:.4f}"
                           f"<extra>{algo}</extra>")))
    fig.update_layout(title={"text": f"{ds.stem}: build time vs index size"},
                      xaxis=axis("Build time (s)", True), yaxis=axis("Index size (MB)", True),
                      hovermode="closest", height=460, margin={"t": 60, "r": 20})
    return figure_json(fig)


def algorithm_figure(algo, datasets):
    """One algorithm's k-nn recall / QPS Pareto frontier on every dataset, one trace each."""
    fig = go.Figure()
    for i, ds in enumerate(datasets):
        pts = [r for r in ds.rows if r["algo"] == algo and usable(r, "k-nn") and usable(r, "qps")]
        front = pareto_front(pts, "k-nn", "qps")
        color, symbol = style(i)
        fig.add_trace(go.Scatter(
            x=[r["k-nn"] for r in front], y=[r["qps"] for r in front], mode="lines+markers",
            name=ds.stem, marker={"color": color, "symbol": symbol, "size": 7},
            line={"color": color}, customdata=customdata(front),
            hovertemplate=HOVER + f"<extra>{ds.stem}</extra>"))
    fig.update_layout(title={"text": f"{algo}: recall vs QPS on every dataset (Pareto frontiers)"},
                      xaxis=_axis("k-nn"), yaxis=_axis("qps"), hovermode="closest", height=520,
                      margin={"t": 60, "r": 20})
    return figure_json(fig)
