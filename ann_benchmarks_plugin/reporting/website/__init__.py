"""A static site of the benchmark results, like ann-benchmarks.com (``annann-bench website``).

One page per dataset (recall against QPS, latency percentiles, distance computations, build time
or index size, on either axis; build time / index size chart; every result in a table), one per
algorithm (what it is, its curves on every dataset, its parameters), one per study folder of
``results/`` (its Markdown reports rendered, with machine and date, and interactive charts of its
JSON data), and an index linking them all. Charts are plotly figures; plotly.js is written once to
``assets/plotly.min.js`` and every page loads it from there, so the site opens from disk (file://)
and works on any static host.

Built atomically (``build.build_site``) from what ``data`` reads; ``figures`` draws the charts,
``pages`` writes the HTML, ``studies`` finds the study folders. The command's options are in
``commands/website.py``.
"""
