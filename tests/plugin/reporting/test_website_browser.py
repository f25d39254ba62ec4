"""The website in a real headless browser (Chromium from the Debian package, driven by playwright):
pages load from disk without console errors, dataset pages draw one trace per algorithm with the
points of the result files, hover shows the parameters, the legend hides traces, the metric
controls switch figures, and the index links reach every page; for a small fixture and for the
committed results/.

Marked ``browser`` and ``slow``: the default suite (-m "not slow") leaves them out. Run them with
``python -m pytest -q -m browser`` after ``apt-get install -y chromium`` and
``pip install -e '.[browser]'``. A missing Chromium or playwright fails them, never skips them.
"""

import os
from collections import Counter
from pathlib import Path

import pytest

from ann_benchmarks_plugin.reporting.export import read_csv
from ann_benchmarks_plugin.reporting.website.build import build_site
from tests.paths import ROOT
from tests.plugin.reporting.website_fixture import CSV_STEM, HDF5_DATASET, make_results

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = os.environ.get("ANNANN_CHROMIUM", "/usr/bin/chromium")
DRAWN = """() => [...document.querySelectorAll('div.plot')].every(
    d => d._fullLayout && d.querySelector('.main-svg'))"""


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the browser tests need playwright: pip install -e '.[browser]'")
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"the browser tests need Chromium at {CHROMIUM}: apt-get install -y chromium "
                    "(or point ANNANN_CHROMIUM at a Chromium binary)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


class Tab:
    """One browser page that records console errors, uncaught exceptions and failed loads."""

    def __init__(self, browser):
        self.page = browser.new_page(viewport={"width": 1280, "height": 1000})
        self.errors = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        self.page.on("requestfailed", lambda r: self.errors.append(f"failed: {r.url}"))

    def open(self, path_or_url):
        url = path_or_url if str(path_or_url).startswith("file:") else Path(path_or_url).as_uri()
        self.page.goto(url)
        self.page.wait_for_function(DRAWN, timeout=30_000)
        return self.page

    def close(self):
        self.page.close()


@pytest.fixture
def tab(browser):
    t = Tab(browser)
    yield t
    t.close()


@pytest.fixture(scope="module")
def fixture_site(tmp_path_factory):
    root = tmp_path_factory.mktemp("webb")
    results, data = make_results(root)
    summary = build_site(results, root / "site", data_dir=data, log=lambda *_: None)
    return results, data, root / "site", summary


@pytest.fixture(scope="module")
def committed_site(tmp_path_factory):
    out = tmp_path_factory.mktemp("committed") / "site"
    summary = build_site(ROOT / "results", out, data_dir=out.parent, log=lambda *_: None)
    return ROOT / "results", out, summary


def drawn_traces(page):
    """[(name, points in the data, points drawn in the SVG)] of the recall plot."""
    data = page.evaluate("() => document.getElementById('recall-plot').data.map("
                         "t => [t.name, t.x.length])")
    drawn = page.evaluate("() => [...document.querySelectorAll("
                          "'#recall-plot .scatterlayer .trace')].map("
                          "t => t.querySelectorAll('path.point').length)")
    return [(name, n, d) for (name, n), d in zip(data, drawn)], len(drawn)


def hover_point(page, trace, point):
    """Move the mouse onto a drawn point of the recall plot; the hover label's text."""
    marker = page.locator("#recall-plot .scatterlayer .trace").nth(trace).locator(
        "path.point").nth(point)
    box = marker.bounding_box()
    label = page.locator("#recall-plot .hoverlayer .hovertext").first
    page.mouse.move(0, 0)  # off the plot first: the label of the previous point must go
    label.wait_for(state="detached", timeout=5000)
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    label.wait_for(timeout=5000)
    return label.text_content()


def expected_counts(results, data, stem):
    """{algorithm: Pareto points} from the result files (CSV pareto column, or collect)."""
    if stem == HDF5_DATASET:
        from ann_benchmarks_plugin.harness.metrics import collect
        from annann.data.datasets import get_dataset

        table = collect(results, get_dataset(stem, data, download=False, progress=False))
        return {a: len(table.pareto(a)) for a in table.algorithms()}
    return dict(Counter(r["algo"] for r in read_csv(results / f"{stem}.csv") if r["pareto"]))


def reach_every_page(tab, site):
    """Follow the links of the pages from index.html; the set of pages reached."""
    seen, todo = set(), [(site / "index.html").as_uri()]
    while todo:
        url = todo.pop()
        if url in seen:
            continue
        seen.add(url)
        page = tab.open(url)
        links = page.evaluate("() => [...document.querySelectorAll('a[href]')].map(a => a.href)")
        todo += [u.split("#")[0] for u in links if u.startswith("file:") and
                 u.split("#")[0].endswith(".html")]
    return seen


def test_every_page_loads_without_console_errors(tab, fixture_site):
    _, _, site, _ = fixture_site
    pages = sorted(site.rglob("*.html"))
    assert len(pages) == 1 + 2 + 6 + 3
    for path in pages:
        page = tab.open(path)
        assert page.title().endswith("annann benchmarks")
        assert tab.errors == [], f"{path.relative_to(site)}: {tab.errors}"


def test_dataset_pages_draw_one_trace_per_algorithm_with_the_result_points(tab, fixture_site):
    results, data, site, summary = fixture_site
    for stem in (CSV_STEM, HDF5_DATASET):
        page = tab.open(site / summary["datasets"][stem])
        traces, n_drawn = drawn_traces(page)
        expected = expected_counts(results, data, stem)
        assert n_drawn == len(expected)
        assert {name: n for name, n, _ in traces} == expected
        assert all(n == drawn for _, n, drawn in traces), traces  # every point is on screen
        assert page.locator("#build-plot .scatterlayer .trace").count() == len(expected)
    assert tab.errors == []


def test_hovering_a_point_shows_its_parameters(tab, fixture_site):
    _, _, site, summary = fixture_site
    page = tab.open(site / summary["datasets"][CSV_STEM])
    names = page.evaluate("() => document.getElementById('recall-plot').data.map(t => t.name)")
    beta = names.index("beta")
    custom = page.evaluate(f"() => document.getElementById('recall-plot').data[{beta}].customdata")
    for j, row in enumerate(custom):
        text = hover_point(page, beta, j)
        assert row[0] in text, (row[0], text)  # the full parameters, e.g. beta(M=4, ef=20)
        for word in ("k-nn recall", "QPS", "build", "index"):
            assert word in text
    assert tab.errors == []


def test_legend_click_hides_a_trace(tab, fixture_site):
    _, _, site, summary = fixture_site
    page = tab.open(site / summary["datasets"][CSV_STEM])
    before = page.locator("#recall-plot .scatterlayer .trace").count()
    page.locator("#recall-plot .legend .traces").first.click()
    page.wait_for_function("() => document.getElementById('recall-plot').data[0].visible "
                           "=== 'legendonly'")
    assert page.locator("#recall-plot .scatterlayer .trace").count() == before - 1
    page.locator("#recall-plot .legend .traces").first.click()
    page.wait_for_function("() => document.getElementById('recall-plot').data[0].visible "
                           "!== 'legendonly'")
    assert tab.errors == []


def test_metric_controls_switch_axes(tab, fixture_site):
    _, _, site, summary = fixture_site
    page = tab.open(site / summary["datasets"][CSV_STEM])
    layout = "() => document.getElementById('recall-plot').layout"
    page.select_option("select[name=measure]", "p99")
    page.wait_for_function("() => document.getElementById('recall-plot').dataset.variant "
                           "=== 'k-nn|p99|x'")
    lay = page.evaluate(layout)
    assert lay["yaxis"]["title"]["text"] == "p99 latency (ms)" and lay["yaxis"]["type"] == "log"
    page.check("input[name=swap]")
    page.select_option("select[name=recall]", "epsilon")
    page.wait_for_function("() => document.getElementById('recall-plot').dataset.variant "
                           "=== 'epsilon|p99|y'")
    lay = page.evaluate(layout)
    assert lay["xaxis"]["title"]["text"] == "p99 latency (ms)"
    assert lay["yaxis"]["title"]["text"].startswith("Epsilon")
    page.select_option("select[name=measure]", "distcomps")  # gamma reports none: empty trace
    page.wait_for_function("() => document.getElementById('recall-plot').dataset.variant "
                           "=== 'epsilon|distcomps|y'")
    data = dict(page.evaluate("() => document.getElementById('recall-plot').data.map("
                              "t => [t.name, t.x.length])"))
    assert data["gamma (no distcomps)"] == 0 and data["beta"] == 3 and len(data) == 4
    assert tab.errors == []


def test_links_from_the_index_reach_every_page(tab, fixture_site):
    _, _, site, _ = fixture_site
    every = {p.resolve().as_uri() for p in site.rglob("*.html")}
    assert reach_every_page(tab, site) == every
    page = tab.open(site / "index.html")
    page.click(f"text={HDF5_DATASET}")
    page.wait_for_function(DRAWN)
    assert page.url.endswith(f"datasets/{HDF5_DATASET}.html")
    assert tab.errors == []


def test_committed_results_site_in_the_browser(tab, committed_site):
    results, site, summary = committed_site
    every = {p.resolve().as_uri() for p in site.rglob("*.html")}
    assert reach_every_page(tab, site) == every
    assert tab.errors == []
    for stem, rel in summary["datasets"].items():
        page = tab.open(site / rel)
        traces, n_drawn = drawn_traces(page)
        expected = expected_counts(results, None, stem)
        assert n_drawn == len(expected), stem
        assert {name: n for name, n, _ in traces} == expected, stem
        assert all(n == drawn for _, n, drawn in traces), (stem, traces)
        names = {c[0] for t in page.evaluate(
            "() => document.getElementById('recall-plot').data.map(t => t.customdata)") for c in t}
        text = hover_point(page, 0, 0)
        assert any(name in text for name in names), (stem, text)
        assert tab.errors == [], (stem, tab.errors)
