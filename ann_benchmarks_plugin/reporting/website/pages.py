"""HTML of the site's pages: a shared frame, tables, rendered Markdown and embedded figure JSON.

Figures are embedded as ``<script type="application/json">`` blocks next to an empty ``div.plot``;
assets/site.js hands them to plotly.js (loaded once, from assets/plotly.min.js).
"""

import html
import json
import re
import shutil
from pathlib import Path

import markdown as md

from .data import MEASURES, METRICS, RECALLS, file_provenance, pareto_front, slug, usable
from .figures import DEFAULT_VARIANT, algorithm_figure, build_figure, builds, dataset_variants

ALGORITHMS = {
    "annann": "ANNANN, the seed's learned index: an autoencoder (optionally with DEC clustering "
              "and a k-NN-preserving loss) maps the vectors into a code space, k-means partitions "
              "the codes, and a query scans the C nearest clusters, re-ranking the candidates "
              "exactly in the original space. The same cluster engine as annann-raw.",
    "annann-raw": "IVF in the original space: k-means clusters (mini-batch k-means refined by "
                  "Lloyd iterations), an HNSW over the centroids to find the C nearest clusters, "
                  "and an exact numba scan of those clusters; inserts and deletes without a "
                  "rebuild. Also the raw-space baseline of ANNANN.",
    "knngraph-lsh": "A K-NN graph built by NN-descent (bounded heaps, new/old flags, reverse "
                    "neighbours) from a variable-length random-projection LSH start, turned into "
                    "a diversified search graph and searched by a numba beam search with LSH "
                    "entry points.",
    "knngraph-random": "The same NN-descent K-NN graph and beam search as knngraph-lsh, started "
                       "from random neighbour lists (the KGraph baseline).",
    "hnswlib": "Hierarchical navigable small-world graphs (the hnswlib library): a peer.",
    "faiss-ivf-hnsw": "faiss IVF<n>_HNSW32,Flat: inverted lists over k-means centroids found by "
                      "an HNSW, exact scan of nprobe lists (faiss-cpu): a peer.",
    "pynndescent": "PyNNDescent: an NN-descent K-NN graph searched by its own graph search: a "
                   "peer.",
    "glass": "glass (pyglass): an HNSW graph walked on 8-bit scalar-quantised codes, candidates "
             "re-ranked in float32: a peer.",
    "symphonyqg": "SymphonyQG (RaBitQ library): a graph whose walk scores each node's neighbour "
                  "list at once from RaBitQ codes (FastScan), re-ranked exactly: a peer.",
    "rabitq-ivf": "IVF-RaBitQ (RaBitQ library): k-means lists (faiss k-means) stored as RaBitQ "
                  "codes scored by FastScan, with extended-bit or raw re-ranking: a peer.",
    "scann": "ScaNN: a k-means tree, 4-bit product quantization (anisotropic for dot product) "
             "scored by LUT16, exact re-rank of the best candidates: a peer.",
    "lorann": "LoRANN: k-means clusters scored by per-cluster reduced-rank regression models, "
              "exact re-rank: a peer.",
    "faiss-ivfpqfs": "faiss IVF<n>,PQ<d/2>x4fs in IndexRefineFlat: inverted lists of 4-bit PQ "
                     "codes scored by SIMD fast-scan, then an exact re-rank (faiss-cpu): a peer.",
    "bruteforce": "Exact search by scanning every vector (numpy): the reference for recall 1 and "
                  "the speedup column.",
}
UNKNOWN = ("An algorithm found in the result files (for example from an ann-benchmarks run); no "
           "description of it is kept here.")

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#222;line-height:1.45}
header{background:#24323f;padding:.6em 1.2em}
header a{color:#fff;margin-right:1.2em;text-decoration:none}
header a.home{font-weight:600}main{max-width:1200px;margin:0 auto;padding:1em 1.2em 3em}
footer{color:#666;font-size:.85em;max-width:1200px;margin:0 auto;padding:0 1.2em 2em}
table{border-collapse:collapse;margin:.6em 0;font-size:.88em}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f0f3f6}td.num{text-align:right;font-variant-numeric:tabular-nums}
.scroll{overflow-x:auto}.plot{min-height:420px;margin:.8em 0}
.prov{color:#444;font-size:.9em;background:#f7f7f2;border-left:3px solid #c9c28f;padding:.3em .7em}
form.controls{display:flex;flex-wrap:wrap;gap:1.2em;align-items:center;margin:.6em 0}
details{margin:.6em 0;border:1px solid #ddd;padding:.3em .8em;border-radius:4px}
summary{cursor:pointer;font-weight:600}code{font-size:.9em}img{max-width:100%}
.warn{color:#8a4b00}
"""

SITE_JS = """(function () {
  "use strict";
  var CONFIG = {responsive: true, displaylogo: false};
  function spec(id) { return JSON.parse(document.getElementById(id).textContent); }
  function draw(el, fig) {
    fig.layout.template = window.ANNANN_TEMPLATE;
    return Plotly.react(el, fig.data, fig.layout, CONFIG);
  }
  function setup() {
    document.querySelectorAll("div.plot[data-figure]").forEach(function (el) {
      draw(el, spec(el.dataset.figure));
    });
    document.querySelectorAll("div.plot[data-variants]").forEach(function (el) {
      var variants = spec(el.dataset.variants);
      var form = document.getElementById(el.dataset.controls);
      function update() {
        var key = [form.elements.recall.value, form.elements.measure.value,
                   form.elements.swap.checked ? "y" : "x"].join("|");
        if (!variants[key]) { throw new Error("no figure variant " + key); }
        el.dataset.variant = key;
        draw(el, JSON.parse(JSON.stringify(variants[key])));
      }
      form.addEventListener("change", update);
      update();
    });
  }
  document.addEventListener("DOMContentLoaded", setup);
})();
"""

HEADING = re.compile(r"<(/?)h([1-5])\b")
LINK = re.compile(r'\b(src|href)="([^"]*)"')


def esc(text):
    """HTML-escaped text (quotes too, so it fits in attributes)."""
    return html.escape(str(text), quote=True)


def script_json(text):
    """JSON text safe inside a <script> element."""
    return text.replace("</", "<\\/").replace("<!--", "<\\!--")


def fmt(v, digits=4):
    """A table cell of a number: fixed digits below 10, thousands separators above, - if missing."""
    if v is None or (isinstance(v, float) and v != v):
        return "-"
    if isinstance(v, float) and v in (float("inf"), float("-inf")):
        return "inf"
    if isinstance(v, (int, float)) and abs(v) >= 10:
        return f"{v:,.0f}"
    return f"{v:.{digits}f}" if isinstance(v, float) else str(v)


class Site:
    """Writes pages into a directory; collects the figure ids and the links it made."""

    def __init__(self, out, results_dir, stamp):
        self.out = Path(out)
        self.results_dir = Path(results_dir)
        self.stamp = stamp
        self.copied = {}

    # -- frame ------------------------------------------------------------------------------------
    def page(self, rel, title, body):
        """Write one page at rel (e.g. "datasets/x.html") with the shared frame."""
        root = "../" * rel.count("/")
        nav = "".join(f'<a href="{root}index.html#{a}">{t}</a>' for a, t in
                      (("datasets", "Datasets"), ("algorithms", "Algorithms"),
                       ("studies", "Studies")))
        text = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(title)} - annann benchmarks</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{root}assets/style.css">
<script src="{root}assets/plotly.min.js"></script>
<script src="{root}assets/template.js"></script>
<script src="{root}assets/site.js"></script>
</head><body>
<header><nav><a class="home" href="{root}index.html">annann benchmarks</a>{nav}</nav></header>
<main>
<h1>{esc(title)}</h1>
{body}
</main>
<footer>Static site built by <code>annann-bench website</code> from the result files on
{esc(self.stamp)}; rebuild with <code>annann-bench website --results results --out site</code>.
</footer>
</body></html>
"""
        path = self.out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    @staticmethod
    def figure(fig_id, figure_json, css_class="plot"):
        """An empty plot div and the figure JSON that assets/site.js draws into it."""
        return (f'<div class="{css_class}" id="{fig_id}" data-figure="{fig_id}-data"></div>\n'
                f'<script type="application/json" id="{fig_id}-data">{script_json(figure_json)}'
                f'</script>\n')

    # -- files and Markdown -----------------------------------------------------------------------
    def copy_file(self, path, root):
        """Copy a results file into files/ (once); returns its link from a page at depth 1."""
        path = Path(path).resolve()
        rel = path.relative_to(self.results_dir.resolve())
        if rel not in self.copied:
            dest = self.out / "files" / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest)
            self.copied[rel] = dest
        return root + "files/" + rel.as_posix()

    def markdown(self, path, root, shift=1, anchors=None):
        """A Markdown report as HTML: headings shifted down, relative links to results files
        copied into files/ (links to reports on the same page become anchors)."""
        path = Path(path)
        body = md.markdown(path.read_text(errors="replace"),
                           extensions=["tables", "fenced_code", "sane_lists"])
        body = HEADING.sub(lambda m: f"<{m.group(1)}h{min(6, int(m.group(2)) + shift)}", body)
        anchors = anchors or {}

        def link(m):
            attr, target = m.group(1), m.group(2)
            if re.match(r"^(?:[a-z][a-z0-9+.-]*:|#|/)", target):
                return m.group(0)
            file_part, _, frag = target.partition("#")
            dest = (path.parent / file_part).resolve()
            if dest in anchors:
                return f'{attr}="#{anchors[dest]}"'
            try:
                dest.relative_to(self.results_dir.resolve())
            except ValueError:
                return f'data-missing-{attr}="{target}"'
            if not dest.is_file():
                return f'data-missing-{attr}="{target}"'
            return f'{attr}="{self.copy_file(dest, root)}{"#" + frag if frag else ""}"'

        return LINK.sub(link, body)


def provenance_html(prov):
    """The "Measured on <machine>, <date>" box, with the report line it came from."""
    line = f"<br><small>{esc(prov.line)}</small>" if prov.line else ""
    return f'<p class="prov">Measured on {esc(prov.text())}.{line}</p>'


def table(headers, rows, numeric=()):
    """An HTML table; cells are already-escaped HTML; columns in numeric are right-aligned."""
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = "".join("<tr>" + "".join(
        f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(r))
        + "</tr>\n" for r in rows)
    return (f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>\n{body}</tbody>'
            "</table></div>")


def describe(algo):
    """What an algorithm is, in a sentence or two (a note for algorithms we do not know)."""
    return ALGORITHMS.get(algo, UNKNOWN)


# -- dataset pages --------------------------------------------------------------------------------
def dataset_page(site, ds):
    """datasets/<stem>.html: metric-selectable recall plot, build chart, table, summaries."""
    root = "../"
    variants = dataset_variants(ds)
    blob = "{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in variants.items()) + "}"
    recall, measure, side = DEFAULT_VARIANT.split("|")

    def opts(keys, sel):
        return "".join(f'<option value="{k}"{" selected" if k == sel else ""}>'
                       f"{esc(METRICS[k][0])}</option>" for k in keys)
    controls = (f'<form class="controls" id="controls" autocomplete="off">'
                f'<label>recall metric <select name="recall">{opts(RECALLS, recall)}</select>'
                f"</label>"
                f'<label>plotted against <select name="measure">{opts(MEASURES, measure)}</select>'
                f'</label><label><input type="checkbox" name="swap"> recall on the y axis</label>'
                f"</form>")
    algos = ds.algorithms()
    n_pareto = {a: len(pareto_front([r for r in ds.rows if r["algo"] == a and usable(r, "k-nn")
                                 and usable(r, "qps")], "k-nn", "qps")) for a in algos}
    links = ", ".join(f'<a href="{root}algorithms/{slug(a)}.html">{esc(a)}</a>' for a in algos)
    source = (f'<a href="{site.copy_file(site.results_dir / ds.source, root)}">{esc(ds.source)}</a>'
              if (site.results_dir / ds.source).is_file() else esc(ds.source))
    body = [provenance_html(ds.provenance),
            f"<p>{len(ds.rows)} results of {len(algos)} algorithms ({links}), from {source}. "
            "Each line is an algorithm's Pareto frontier; hover a point for its parameters, click "
            "a legend entry to hide or show it. Log axes leave out values of 0 (not reported).</p>",
            "<h2>Recall and speed</h2>", controls,
            '<div class="plot" id="recall-plot" data-variants="recall-variants" '
            'data-controls="controls"></div>',
            f'<script type="application/json" id="recall-variants">{script_json(blob)}</script>',
            "<h2>Build time and index size</h2>",
            site.figure("build-plot", build_figure(ds)),
            "<h2>Every result</h2>"]
    rows = []
    front_ids = {id(r) for a in algos for r in pareto_front(
        [r for r in ds.rows if r["algo"] == a and usable(r, "k-nn") and usable(r, "qps")],
        "k-nn", "qps")}
    for r in sorted(ds.rows, key=lambda r: (r["algo"], r["k-nn"], r["qps"])):
        rows.append([f'<a href="{root}algorithms/{slug(r["algo"])}.html">{esc(r["algo"])}</a>',
                     f"<code>{esc(r['name'])}</code>", fmt(r["k-nn"]), fmt(r["epsilon"]),
                     fmt(r["qps"]), fmt(r.get("speedup"), 1), fmt(r["p50"], 3), fmt(r["p95"], 3),
                     fmt(r["p99"], 3), fmt(r["build"], 2), fmt(r["indexsize"] / 1024, 1),
                     fmt(r["distcomps"], 0), "yes" if id(r) in front_ids else ""])
    body.append(table(["algorithm", "parameters", "k-nn recall", "epsilon recall", "QPS",
                       "speedup", "p50 ms", "p95 ms", "p99 ms", "build s", "index MB",
                       "dist comps", "Pareto"], rows, numeric=set(range(2, 12))))
    body.append(f'<p id="pareto-counts" hidden>{esc(json.dumps(n_pareto))}</p>')
    if ds.summary_md:
        body.append("<h2>Committed summary</h2>")
        body.append(f"<details open><summary>{esc(ds.summary_md.name)}</summary>"
                    f"{site.markdown(ds.summary_md, root, shift=2)}</details>")
    if ds.earlier_runs:
        body.append("<h2>Earlier runs</h2>")
        for p in ds.earlier_runs:
            prov = file_provenance(p, site.results_dir)
            body.append(f"<details><summary>{esc(p.name)}: {esc(prov.text())}</summary>"
                        f"{site.markdown(p, root, shift=2)}</details>")
    return site.page(f"datasets/{slug(ds.stem)}.html", ds.stem, "\n".join(body))


# -- algorithm pages ------------------------------------------------------------------------------
def algorithm_page(site, algo, datasets):
    """algorithms/<algo>.html: what it is, its curves on every dataset, its parameters."""
    root = "../"
    mine = [ds for ds in datasets if algo in ds.algorithms()]
    body = [f"<p>{esc(describe(algo))}</p>",
            "<h2>Recall vs QPS on every dataset</h2>",
            Site.figure("algorithm-plot", algorithm_figure(algo, mine)),
            "<h2>Parameters</h2>",
            "<p>A parameter that changes between the points of one build (same build time and "
            "index size) is a query parameter; the others are build parameters.</p>"]
    rows = []
    for ds in mine:
        for b in builds([r for r in ds.rows if r["algo"] == algo]):
            rows.append([f'<a href="{root}datasets/{slug(ds.stem)}.html">{esc(ds.stem)}</a>',
                         f"<code>{esc(b['build_params'])}</code>",
                         f"<code>{esc(b['query_params'])}</code>", str(b["points"]),
                         fmt(b["best_recall"]), fmt(b["build"], 2), fmt(b["indexsize"] / 1024, 1)])
    body.append(table(["dataset", "build parameters", "query parameters (values run)", "points",
                       "best k-nn recall", "build s", "index MB"], rows, numeric={3, 4, 5, 6}))
    body.append("<h2>Pareto points</h2>")
    rows = []
    for ds in mine:
        pts = [r for r in ds.rows if r["algo"] == algo and usable(r, "k-nn") and usable(r, "qps")]
        for r in pareto_front(pts, "k-nn", "qps"):
            rows.append([esc(ds.stem), f"<code>{esc(r['name'])}</code>", fmt(r["k-nn"]),
                         fmt(r["qps"]), fmt(r["p99"], 3)])
    body.append(table(["dataset", "parameters", "k-nn recall", "QPS", "p99 ms"], rows,
                      numeric={2, 3, 4}))
    return site.page(f"algorithms/{slug(algo)}.html", algo, "\n".join(body))


# -- study pages ----------------------------------------------------------------------------------
def study_page(site, study):
    """studies/<key>.html: provenance, interactive charts, then the rendered reports."""
    root = "../"
    provs = [file_provenance(p, site.results_dir) for p in study.reports]
    everything = provs + study.provenances
    machines = sorted({p.machine for p in everything if p.machine})
    dates = sorted({p.date for p in everything if p.date})
    when = (dates[0] if len(dates) == 1 else f"{dates[0]} to {dates[-1]}") if dates else \
        "dates not recorded"
    body = [f"<p>{esc(study.about)}</p>" if study.about else "",
            f'<p class="prov">Machines: {esc("; ".join(machines) or "not recorded")}. '
            f"Dates: {esc(when)}. Each report below names its own.</p>"]
    if study.charts:
        body.append("<h2>Charts</h2>")
        for i, chart in enumerate(study.charts):
            src = site.results_dir / chart.source
            link = (f'<a href="{site.copy_file(src, root)}">{esc(chart.source)}</a>'
                    if src.is_file() else esc(chart.source))
            body.append(f"<h3>{esc(chart.title)}</h3><p><small>data: {link}</small></p>")
            body.append(Site.figure(f"chart-{i}", chart.figure))
    anchors = {p.resolve(): "report-" + slug(str(p.relative_to(site.results_dir)))
               for p in study.reports}
    body.append("<h2>Reports</h2>")
    for i, (path, prov) in enumerate(zip(study.reports, provs)):
        rel = str(path.relative_to(site.results_dir))
        inner = site.markdown(path, root, shift=2, anchors=anchors)
        body.append(f'<details id="{anchors[path.resolve()]}"{" open" if i == 0 else ""}>'
                    f"<summary>{esc(rel)}: {esc(prov.text())}</summary>{inner}</details>")
    if study.not_charted:
        body.append("<h2>Data files without a chart</h2><ul>" + "".join(
            f"<li>{esc(s)}</li>" for s in study.not_charted) + "</ul>")
    return site.page(f"studies/{study.slug}.html", study.title, "\n".join(b for b in body if b))


# -- index ----------------------------------------------------------------------------------------
def index_page(site, datasets, algorithms, studies, warnings):
    """index.html: every dataset, algorithm and study, with links; what was left out and why."""
    ds_rows = [[f'<a href="datasets/{slug(ds.stem)}.html">{esc(ds.stem)}</a>',
                str(len(ds.algorithms())), str(len(ds.rows)), esc(ds.provenance.machine or "-"),
                esc(ds.provenance.date or "-")] for ds in datasets]
    al_rows = [[f'<a href="algorithms/{slug(a)}.html">{esc(a)}</a>',
                str(sum(a in ds.algorithms() for ds in datasets)), esc(describe(a))]
               for a in algorithms]
    st_rows = []
    for s in studies:
        st_rows.append([f'<a href="studies/{s.slug}.html">{esc(s.title)}</a>', esc(s.about),
                        str(len(s.reports)), str(len(s.charts))])
    body = ["<p>Approximate nearest neighbour search benchmarks of the annann algorithms and their "
            "peers, measured with an ann-benchmarks-compatible runner (recall by distance "
            "threshold, queries one at a time on one thread). Absolute QPS depend on the machine "
            "named on each page: compare within a dataset.</p>",
            '<h2 id="datasets">Datasets</h2>',
            table(["dataset", "algorithms", "results", "machine", "date"], ds_rows, {1, 2}),
            '<h2 id="algorithms">Algorithms</h2>',
            table(["algorithm", "datasets", "what it is"], al_rows, {1}),
            '<h2 id="studies">Studies</h2>',
            table(["study", "what it asks", "reports", "charts"], st_rows, {2, 3})]
    if warnings:
        body.append('<h2 id="left-out">Left out</h2><ul class="warn">' +
                    "".join(f"<li>{esc(w)}</li>" for w in warnings) + "</ul>")
    return site.page("index.html", "ANN benchmark results", "\n".join(body))
