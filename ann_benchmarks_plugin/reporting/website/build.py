"""Build the site: gather the results, write every page and asset into a temp directory, swap it in.

The temp directory sits beside ``out`` and replaces it by rename: a crash leaves the previous site
(or none), never half of one; an existing ``out`` that is not a site built here is never replaced.
"""

import time
from pathlib import Path

from annann.core.atomic import atomic_dir

from .data import WebsiteError, load_datasets, slug
from .figures import template_json
from .pages import CSS, SITE_JS, Site, algorithm_page, dataset_page, index_page, study_page
from .studies import discover

MARKER = ".annann-site"


def is_site(path):
    """True for a directory this module wrote (it carries the marker file)."""
    return (Path(path) / MARKER).is_file()


def _check_dirs(results_dir, out):
    results_dir, out = Path(results_dir), Path(out)
    if not results_dir.is_dir():
        raise WebsiteError(f"results directory {results_dir} does not exist (expected the "
                           "ann-benchmarks layout: <dataset>.csv tables from annann-bench "
                           "plot/export/reproduce, <dataset>/<k>/<algo>/*.hdf5 result files, "
                           "and study folders of Markdown/JSON)")
    if out.exists() and not (out.is_dir() and (is_site(out) or not any(out.iterdir()))):
        raise WebsiteError(f"{out} exists and is not a site built by annann-bench website (no "
                           f"{MARKER} file in it); refusing to replace it: choose another --out")
    if out.resolve() in (results_dir.resolve(), *results_dir.resolve().parents, Path.cwd()):
        raise WebsiteError(f"--out {out} would replace the results or the working directory")


def build_site(results_dir, out, data_dir=None, log=print):
    """Build the site of results_dir into out (atomically); returns a summary dict.

    Raises WebsiteError when results_dir is missing or holds no results, or out cannot be
    replaced."""
    from plotly.offline import get_plotlyjs

    results_dir, out = Path(results_dir), Path(out)
    _check_dirs(results_dir, out)
    warnings = []
    datasets = list(load_datasets(results_dir, data_dir, warnings).values())
    studies = discover(results_dir, [ds.stem for ds in datasets], warnings)
    if not datasets and not studies:
        raise WebsiteError(f"no results under {results_dir}: no <dataset>.csv tables written by "
                           "annann-bench plot/export/reproduce, no <dataset>/<k>/<algo>/*.hdf5 "
                           "result files with their dataset at hand, no study folders"
                           + (f" ({'; '.join(warnings)})" if warnings else ""))
    algorithms = sorted({a for ds in datasets for a in ds.algorithms()})
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    with atomic_dir(out, lambda p: is_site(p) or not any(Path(p).iterdir())) as tmp:
        assets = tmp / "assets"
        assets.mkdir()
        (assets / "plotly.min.js").write_text(get_plotlyjs())
        (assets / "template.js").write_text(f"window.ANNANN_TEMPLATE = {template_json()};\n")
        (assets / "site.js").write_text(SITE_JS)
        (assets / "style.css").write_text(CSS)
        site = Site(tmp, results_dir, stamp)
        pages = [index_page(site, datasets, algorithms, studies, warnings)]
        pages += [dataset_page(site, ds) for ds in datasets]
        pages += [algorithm_page(site, a, datasets) for a in algorithms]
        pages += [study_page(site, s) for s in studies]
        (tmp / MARKER).write_text(f"built {stamp} from {results_dir}\n")
        pages = [p.relative_to(tmp) for p in pages]
    for w in warnings:
        log(f"warning: {w}")
    log(f"wrote {out}: {len(datasets)} datasets, {len(algorithms)} algorithms, {len(studies)} "
        f"studies ({len(pages)} pages); open {out / 'index.html'}")
    return {"out": out, "pages": [str(p) for p in pages],
            "datasets": {ds.stem: f"datasets/{slug(ds.stem)}.html" for ds in datasets},
            "algorithms": {a: f"algorithms/{slug(a)}.html" for a in algorithms},
            "studies": {s.key: f"studies/{s.slug}.html" for s in studies}, "warnings": warnings}
