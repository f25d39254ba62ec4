"""annann-bench website without a browser: the files of the site, the figures embedded in its pages
(checked against the result files), its links, atomic output and its errors."""

import json
import re
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from ann_benchmarks_plugin.commands import cli
from ann_benchmarks_plugin.reporting.export import read_csv
from ann_benchmarks_plugin.harness.metrics import MetricTable
from ann_benchmarks_plugin.reporting.website import pages
from ann_benchmarks_plugin.reporting.website.build import MARKER, build_site
from ann_benchmarks_plugin.reporting.website.data import (WebsiteError, frontier,
                                                          markdown_provenance, parameter_split,
                                                          pareto_front, parse_name)
from tests.paths import ROOT
from tests.plugin.reporting.website_fixture import CSV_STEM, HDF5_DATASET, csv_rows, make_results


class Links(HTMLParser):
    """href/src of a page and the JSON script blocks by id."""

    def __init__(self):
        super().__init__()
        self.links, self.scripts, self._script = [], {}, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("href", "src"):
            if attrs.get(key):
                self.links.append(attrs[key])
        if tag == "script" and attrs.get("type") == "application/json":
            self._script = attrs["id"]
            self.scripts[self._script] = ""

    def handle_data(self, data):
        if self._script:
            self.scripts[self._script] += data

    def handle_endtag(self, tag):
        if tag == "script":
            self._script = None


def parse(path):
    p = Links()
    p.feed(Path(path).read_text())
    return p


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("web")
    results, data = make_results(root)
    out = root / "site"
    summary = build_site(results, out, data_dir=data, log=lambda *_: None)
    return results, data, out, summary


def default_traces(page):
    """{trace name: number of points} of the recall plot a dataset page shows first."""
    variants = json.loads(parse(page).scripts["recall-variants"])
    return {t["name"]: len(t["x"]) for t in variants["k-nn|qps|x"]["data"]}, variants


def test_site_has_every_page_and_one_plotly(built):
    results, _, out, summary = built
    assert (out / MARKER).is_file() and (out / "index.html").is_file()
    assert set(summary["datasets"]) == {CSV_STEM, HDF5_DATASET}
    assert set(summary["algorithms"]) == {"alpha", "beta", "gamma", "bruteforce", "exact", "noisy"}
    assert set(summary["studies"]) == {"streaming", "knngraph", "cluster_index"}
    for rel in [*summary["datasets"].values(), *summary["algorithms"].values(),
                *summary["studies"].values()]:
        assert (out / rel).is_file(), rel
    js = [p for p in out.rglob("*.js") if "plotly" in p.name]
    assert [p.relative_to(out).as_posix() for p in js] == ["assets/plotly.min.js"]
    assert js[0].stat().st_size > 1_000_000  # the real library, not a stub
    for page in out.rglob("*.html"):
        text = page.read_text()
        assert text.count("plotly.min.js") == 1, page
        assert "cdn" not in text.lower() and "https://" not in text.split("<main>")[0], page


def test_csv_dataset_page_draws_each_algorithms_pareto_front(built):
    _, _, out, summary = built
    counts, variants = default_traces(out / summary["datasets"][CSV_STEM])
    rows = read_csv(next(built[0].glob(f"{CSV_STEM}.csv")))
    expected = Counter(r["algo"] for r in rows if r["pareto"])  # the CSV's own pareto column
    assert counts == dict(expected)
    assert counts == {"alpha": 8, "beta": 3, "gamma": 2, "bruteforce": 1}
    table = MetricTable(csv_rows())
    assert counts == {a: len(table.pareto(a)) for a in table.algorithms()}
    # every pairing exists with one trace per algorithm; unreported values give an empty trace
    assert len(variants) == 32 and all(len(v["data"]) == 4 for v in variants.values())
    dist = {t["legendgroup"]: len(t["x"]) for t in variants["k-nn|distcomps|x"]["data"]}
    assert dist["gamma"] == 0 and dist["bruteforce"] == 0 and dist["beta"] == 3
    swapped = variants["k-nn|qps|y"]["data"][0]
    assert swapped["y"] == variants["k-nn|qps|x"]["data"][0]["x"]
    assert variants["epsilon|p99|x"]["layout"]["yaxis"]["type"] == "log"


def test_hdf5_dataset_page_matches_the_result_files(built):
    from ann_benchmarks_plugin.harness.metrics import collect
    from annann.data.datasets import get_dataset

    results, data, out, summary = built
    table = collect(results, get_dataset(HDF5_DATASET, data, download=False, progress=False))
    assert len(table.rows) == 6
    counts, variants = default_traces(out / summary["datasets"][HDF5_DATASET])
    assert counts == {a: len(table.pareto(a)) for a in table.algorithms()} == {"exact": 1,
                                                                                  "noisy": 3}
    noisy = next(t for t in variants["k-nn|qps|x"]["data"] if t["name"] == "noisy")
    assert [round(x, 4) for x in noisy["x"]] == [0.4, 0.7, 0.9]
    assert [c[0] for c in noisy["customdata"]] == ["noisy(L=5, q=1)", "noisy(L=5, q=2)",
                                                   "noisy(L=5, q=4)"]
    # hover shows parameters, recall, QPS, build time and index size
    template = noisy["hovertemplate"]
    for part in ("customdata[0]", "QPS", "build", "index", "recall"):
        assert part in template


def test_links_resolve_and_index_reaches_every_page(built):
    _, _, out, _ = built
    every = {p.resolve() for p in out.rglob("*.html")}
    seen, todo = set(), [(out / "index.html").resolve()]
    while todo:
        page = todo.pop()
        if page in seen:
            continue
        seen.add(page)
        for link in parse(page).links:
            url = urlparse(link)
            if url.scheme in ("data", "http", "https") or link.startswith("#"):
                assert url.scheme != "http" and url.scheme != "https", (page, link)
                continue
            target = (page.parent / unquote(url.path)).resolve()
            assert target.is_file(), f"{page.relative_to(out)}: broken link {link}"
            if target.suffix == ".html":
                todo.append(target)
    assert seen == every


def test_study_pages_render_reports_with_provenance_and_charts(built):
    _, _, out, summary = built
    text = (out / summary["studies"]["knngraph"]).read_text()
    assert "2 cores, Intel(R) Xeon(R) Processor" in text and "4 cores, AMD EPYC" in text
    assert "2026-01-03 01:00 UTC to 2026-01-04 02:00 UTC" in text
    assert 'src="../files/knngraph/bench_1.png"' in text  # image copied, link rewritten
    assert 'href="#report-knngraph_bench_2.md"' in text  # report on the same page -> anchor
    assert 'data-missing-href="missing.md"' in text
    assert (out / "files/knngraph/bench_1.png").is_file()
    charts = parse(out / summary["studies"]["knngraph"]).scripts
    titles = [json.loads(v)["layout"]["title"]["text"] for v in charts.values()]
    assert any("graph recall vs build time" in t for t in titles)
    assert any("search recall@10 vs QPS" in t for t in titles)
    stream = parse(out / summary["studies"]["streaming"]).scripts
    fig = json.loads(next(iter(stream.values())))
    assert {t["name"] for t in fig["data"] if t.get("showlegend", True)} == {
        "annann-raw (score 0.900)", "annann-raw-static (score 0.950)"}
    assert len(fig["data"]) == 6 and all(len(t["x"]) == 3 for t in fig["data"])
    cluster = (out / summary["studies"]["cluster_index"]).read_text()
    assert "cluster_index/odd.json" in cluster and "without a chart" in cluster
    assert "2 cores, AMD EPYC VM" in cluster and "2026-01-06" in cluster


def test_algorithm_page_has_description_curves_and_parameters(built):
    _, _, out, summary = built
    page = out / summary["algorithms"]["alpha"]
    fig = json.loads(parse(page).scripts["algorithm-plot-data"])
    assert [(t["name"], len(t["x"])) for t in fig["data"]] == [(CSV_STEM, 8)]
    text = page.read_text()
    assert "<code>n=10</code>" in text and "<code>C in {1, 2, 3, 4, 8}</code>" in text
    assert pages.UNKNOWN in text  # alpha is not one of ours
    assert pages.ALGORITHMS["bruteforce"] in (out / summary["algorithms"]["bruteforce"]).read_text()


def test_rebuild_replaces_the_site_atomically(built, tmp_path, monkeypatch):
    results, data, _, _ = built
    out = tmp_path / "site"
    build_site(results, out, data, log=lambda *_: None)
    first = (out / "index.html").read_text()

    def crash(*_):
        raise RuntimeError("disk full")

    monkeypatch.setattr("ann_benchmarks_plugin.reporting.website.build.study_page", crash)
    with pytest.raises(RuntimeError, match="disk full"):
        build_site(results, out, data, log=lambda *_: None)
    assert (out / "index.html").read_text() == first  # the previous site, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]  # no temp left behind
    monkeypatch.undo()
    build_site(results, out, data, log=lambda *_: None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]

    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep")
    with pytest.raises(WebsiteError, match="refusing to replace"):
        build_site(results, other, data)
    assert (other / "notes.txt").read_text() == "keep"


def test_clear_errors_for_missing_or_empty_results(tmp_path, capsys):
    with pytest.raises(WebsiteError, match="does not exist"):
        build_site(tmp_path / "nope", tmp_path / "site")
    (tmp_path / "empty").mkdir()
    with pytest.raises(WebsiteError, match="no results under"):
        build_site(tmp_path / "empty", tmp_path / "site")
    assert cli.main(["website", "--results", str(tmp_path / "empty"), "--out",
                     str(tmp_path / "site")]) == 2
    assert "no results under" in capsys.readouterr().err
    assert not (tmp_path / "site").exists()


def test_result_files_without_ground_truth_fall_back_with_a_warning(tmp_path):
    results, _ = make_results(tmp_path)
    (results / "local").mkdir()  # ad-hoc runs: a results root of their own, not a study
    (results / "local" / "x.csv").write_text((results / f"{CSV_STEM}.csv").read_text())
    (results / "local" / "x.md").write_text("# x\n")
    summary = build_site(results, tmp_path / "site", data_dir=tmp_path / "nowhere",
                         log=lambda *_: None)
    assert HDF5_DATASET not in summary["datasets"] and CSV_STEM in summary["datasets"]
    assert any(HDF5_DATASET in w and "--data-dir" in w for w in summary["warnings"])
    assert "local" not in summary["studies"]
    assert any(w.startswith("local/") and "--results" in w for w in summary["warnings"])
    assert "Left out" in (tmp_path / "site" / "index.html").read_text()


def test_cli_builds_the_site(built, tmp_path):
    results, data, _, _ = built
    out = tmp_path / "s"
    assert cli.main(["website", "--results", str(results), "--out", str(out), "--data-dir",
                     str(data)]) == 0
    assert (out / "datasets" / f"{CSV_STEM}.html").is_file()


def test_provenance_from_each_committed_wording():
    cases = {
        "Produced by `x` on 2026-11-22 12:20 UTC (git dbb4a3e): 2 cores (Intel(R) Xeon(R) "
        "Processor), python": ("2 cores, Intel(R) Xeon(R) Processor", "2026-11-22 12:20 UTC"),
        "Machine: 2 CPUs, Intel(R) Xeon(R) Processor; 2026-11-22 03:33:03 UTC; python":
            ("2 cores, Intel(R) Xeon(R) Processor", "2026-11-22 03:33 UTC"),
        "- machine: 2 cores, Intel(R) Xeon(R) Processor; date 2026-11-22T03:53:01+00:00; 1-min":
            ("2 cores, Intel(R) Xeon(R) Processor", "2026-11-22 03:53 UTC"),
        "Command: `b.py`; AMD EPYC, 2 CPUs, 2026-11-30 00:42 UTC, git 357a938":
            ("2 cores, AMD EPYC", "2026-11-30 00:42 UTC"),
        "no machine here": (None, None),
    }
    for text, (machine, date) in cases.items():
        prov = markdown_provenance("# title\n\n" + text + "\n")
        assert (prov.machine, prov.date) == (machine, date), text


def test_frontier_matches_metric_table_and_handles_lower_is_better():
    rng = __import__("numpy").random.default_rng(1)
    rows = [{"algo": "a", "k-nn": float(r), "qps": float(q), "p99": float(1000 / q)}
            for r, q in zip(rng.random(60).round(2), rng.integers(1, 50, 60))]
    assert frontier(rows, "k-nn", "qps") == sorted(MetricTable(rows).pareto("a"),
                                                   key=lambda r: r["k-nn"])
    # p99 = 1000 / qps: the same points are optimal when lower latency is better
    assert frontier(rows, "k-nn", "p99") == frontier(rows, "k-nn", "qps")


def test_csv_pareto_column_decides_ties_that_rounding_made():
    """0.9970000001 and 0.997 are both 0.997 in the CSV; the column kept the higher one."""
    rows = [{"k-nn": 0.997, "qps": 4732.0, "pareto": True},
            {"k-nn": 0.997, "qps": 5678.0, "pareto": True},
            {"k-nn": 0.99, "qps": 6000.0, "pareto": True},
            {"k-nn": 0.99, "qps": 100.0, "pareto": False}]
    assert [r["qps"] for r in pareto_front(rows, "k-nn", "qps")] == [6000.0, 5678.0, 4732.0]
    assert [r["qps"] for r in frontier(rows, "k-nn", "qps")] == [6000.0, 5678.0]


def test_parameter_names_and_build_query_split():
    assert parse_name("hnswlib(M=16, efC=200, ef=10)") == ("hnswlib", {"M": "16", "efC": "200",
                                                                        "ef": "10"})
    assert parse_name("bruteforce()") == ("bruteforce", {})
    assert parse_name("Annoy") == ("Annoy", None)
    rows = [r for r in csv_rows() if r["algo"] == "alpha"]
    assert parameter_split(rows) == (["n"], ["C"])


def test_committed_results_make_a_site(tmp_path):
    """The real results/: every exported CSV gets a page drawing its pareto points."""
    results = ROOT / "results"
    summary = build_site(results, tmp_path / "site", data_dir=tmp_path, log=lambda *_: None)
    stems = {p.stem for p in results.glob("*.csv")
             if p.read_text().startswith("algo,name,k-nn")}
    assert stems and stems <= set(summary["datasets"])
    for stem in stems:
        counts, _ = default_traces(tmp_path / "site" / summary["datasets"][stem])
        expected = Counter(r["algo"] for r in read_csv(results / f"{stem}.csv") if r["pareto"])
        assert counts == dict(expected), stem
    for key in ("streaming", "knngraph", "annann", "distributed", "cluster_index"):
        page = (tmp_path / "site" / summary["studies"][key]).read_text()
        assert re.search(r"Machines: [^<]*\d+ cores|Machines: Linux", page), key
        assert "Dates: 2026-" in page, key
        assert 'data-figure="chart-0-data"' in page, key
