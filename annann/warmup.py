"""Compile the numba kernels of the cluster engine (``ivf``, also ANNANN's), of its learned-score
scan (``scores``) and of the K-NN graph (``graph``) for both metrics, filling numba's on-disk
cache: ``python -m annann.warmup [ENGINE ...]``.

The algorithm images run it at build time with ``NUMBA_CACHE_DIR`` inside the image, so a
container loads its kernels instead of compiling them. The adapters still call the engines'
``warm_up`` in their constructors, which then loads them (a cache miss, e.g. on another CPU,
compiles there): either way nothing is compiled inside a timed ``fit``.
"""

import argparse
import sys

from .core.distances import METRICS
from .graph.index import INITS
from .graph.index import warm_up as warm_up_graph
from .ivf.index import warm_up as warm_up_ivf
from .learned.scores import warm_up as warm_up_scores

ENGINES = ("ivf", "scores", "graph")


def warm_up(engines=ENGINES, metrics=METRICS, log=print):
    """Warm each engine up for each metric (the graph from both starts, LSH and random);
    returns the seconds spent per (engine, metric)."""
    spent = {}
    for engine in engines:
        if engine not in ENGINES:
            raise ValueError(f"engine: expected one of {ENGINES}, got {engine!r}")
        for metric in metrics:
            if engine == "ivf":
                seconds = warm_up_ivf(metric)
            elif engine == "scores":
                seconds = warm_up_scores(metric)
            else:
                seconds = sum(warm_up_graph(metric, init=init) for init in INITS)
            spent[engine, metric] = seconds
            log(f"{engine} {metric}: kernels ready in {seconds:.1f} s")
    return spent


def main(argv=None):
    """Command line: warm up the named engines (default: all)."""
    p = argparse.ArgumentParser(prog="python -m annann.warmup",
                                description="Fill numba's cache with the kernels of the named "
                                            "engines, for both metrics.")
    p.add_argument("engines", nargs="*", metavar="ENGINE",
                   help=f"engines to warm up, of {', '.join(ENGINES)} (default: all)")
    engines = p.parse_args(argv).engines or ENGINES
    unknown = sorted(set(engines) - set(ENGINES))
    if unknown:
        p.error(f"unknown engine(s) {', '.join(unknown)}; choose from {', '.join(ENGINES)}")
    warm_up(engines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
