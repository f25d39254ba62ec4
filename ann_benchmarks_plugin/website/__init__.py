"""``annann-bench website``: a static site of the benchmark results, like ann-benchmarks.com.

One page per dataset (recall against QPS, latency percentiles, distance computations, build time
or index size, on either axis; build time / index size chart; every result in a table), one per
algorithm (what it is, its curves on every dataset, its parameters), one per study folder of
``results/`` (its Markdown reports rendered, with machine and date, and interactive charts of its
JSON data), and an index linking them all. Charts are plotly figures; plotly.js is written once to
``assets/plotly.min.js`` and every page loads it from there, so the site opens from disk (file://)
and works on any static host.

Built atomically (website/build.py). This module stays light (no plotly import) because the CLI
imports it to register the subcommand.
"""


def add_arguments(p):
    """The options of ``annann-bench website``."""
    p.add_argument("--results", "--results-dir", dest="results_dir", default="results",
                   help="results root to publish (default ./results)")
    p.add_argument("--out", default="site", help="site directory to write (default ./site); "
                                                 "replaced only if a previous site")
    p.add_argument("--data-dir", default=None,
                   help="where the datasets of .hdf5 result files are (their ground truth scores "
                        "them); the exported <dataset>.csv tables need none")


def run(a):
    """``annann-bench website``: build the site; returns the exit status."""
    import sys

    try:
        from .build import build_site
    except ImportError as exc:
        print(f"annann-bench website: {exc.name or exc} is missing; install the site's "
              "dependencies with: pip install -e '.[website]'", file=sys.stderr)
        return 2

    build_site(a.results_dir, a.out, a.data_dir)
    return 0
