"""``annann-bench website``: its options, and the build of the site (``reporting.website``).

This module stays light (no plotly import) because the CLI imports it to register the
sub-command; a missing site dependency is one message naming the extra to install.
"""

import sys


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
    try:
        from ..reporting.website.build import build_site
    except ImportError as exc:
        print(f"annann-bench website: {exc.name or exc} is missing; install the site's "
              "dependencies with: pip install -e '.[website]'", file=sys.stderr)
        return 2

    build_site(a.results_dir, a.out, a.data_dir)
    return 0
