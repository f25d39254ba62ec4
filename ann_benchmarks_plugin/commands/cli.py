"""annann-bench: run benchmarks, plot and export results, manage datasets.

``run``, ``plot``, ``export`` and ``stream`` write under ``results/local/`` by default (ignored by
git), so they never overwrite the committed results in ``results/``, which ``reproduce`` writes.
"""

import argparse
import sys
from pathlib import Path

from annann.core.atomic import atomic_path
from annann.data.datasets import (DATASETS, DEFAULT_DATASET, DatasetError, available_datasets,
                                  dataset_name, get_dataset)

from ..harness.results import table_stem
from . import build_graph, website
from .args import HelpWithDefaults, nonnegative_float, nonnegative_int, positive_float, positive_int

LOCAL_RESULTS = "results/local"  # where ad-hoc runs write (ignored by git)
PROVENANCE_MARK = "\nProduced by `"  # first line of reproduce's provenance paragraph
# what the `plugin` extra brings (pip install annann gives the library alone)
PLUGIN_MODULES = ("yaml", "matplotlib", "docker", "psutil")


def _definitions(a):
    """The definitions file: ``--definitions``, else ./algos.yaml or the checkout's."""
    from ..harness.definitions import default_definitions_path

    return a.definitions or default_definitions_path()


def _common(p, results_dir=LOCAL_RESULTS):
    p.add_argument("--dataset", default=DEFAULT_DATASET,
                   help="dataset name or .hdf5 path (default: the embedded %(default)s)")
    p.add_argument("--count", "-k", type=positive_int, default=10, help="number of neighbours")
    p.add_argument("--batch", action="store_true", help="batch mode (batch_query)")
    p.add_argument("--data-dir", default=None,
                   help="directory searched first for datasets (default: only ./data, "
                        "ANNANN_DATA_PATH and the embedded sets)")
    p.add_argument("--results-dir", default=results_dir,
                   help="results root (default: %(default)s, ignored by git; `reproduce` writes "
                        "the committed results in ./results)")


def cmd_run(a):
    """Benchmark the selected definitions on a dataset (locally or in containers)."""
    from ..harness.runner import run_benchmark

    docker = None
    if a.docker:
        from ..harness.docker_runner import DockerOptions

        docker = DockerOptions(cpu=a.cpu, memory=a.memory)
    if a.plot:  # before anything runs: plotting would overwrite published results
        _refuse_published(Path(a.results_dir) / table_stem(dataset_name(a.dataset), a.count, a.batch),
                          a.force)
    report = run_benchmark(a.dataset, a.algorithm, a.count, a.runs, a.batch, a.force,
                           _definitions(a), a.max_n, a.data_dir,
                           a.results_dir, a.timeout, a.run_disabled, progress=not a.quiet,
                           docker=docker, parallelism=a.parallelism, wait=a.wait)
    print(f"{len(report.written)} result files written, {len(report.skipped)} definitions "
          f"already done, {len(report.failed)} failed")
    for label, error in report.failed:
        print(f"  FAILED {label}: {error}", file=sys.stderr)
    if a.plot:
        cmd_plot(a)
    return 0 if report.ok else 1


def _refuse_published(stem, force):
    """ValueError if ``stem``.md holds results published by ``reproduce`` (a provenance
    paragraph) and ``force`` is not set: plot and export would replace them without it."""
    md = Path(f"{stem}.md")
    if not force and md.is_file() and PROVENANCE_MARK in md.read_text(errors="replace"):
        raise ValueError(f"{md} holds published results (written by `annann-bench reproduce`, "
                         f"with their provenance); refusing to overwrite it and its .csv/.png: "
                         f"use another --results-dir (default {LOCAL_RESULTS}), or --force")


def _table(a):
    from ..harness.metrics import collect

    dataset = get_dataset(a.dataset, a.data_dir, download=False)
    table = collect(a.results_dir, dataset, a.count, a.batch)
    if not table.rows:
        raise DatasetError(f"no results for {dataset.name} (k={a.count}) under {a.results_dir}")
    return dataset, table


def cmd_plot(a):
    """Write the recall/QPS and build plots plus CSV and Markdown tables of a dataset."""
    from ..reporting.export import write_csv, write_markdown
    from ..reporting.plot import plot_build, plot_recall_qps

    dataset, table = _table(a)
    stem = Path(a.results_dir) / table_stem(dataset.name, a.count, a.batch)
    _refuse_published(stem, a.force)
    title = f"{dataset.name}: recall@{a.count} vs QPS"
    for out in (plot_recall_qps(table, f"{stem}.png", title, getattr(a, "x_scale", "linear")),
                plot_build(table, f"{stem}-build.png", f"{dataset.name}: build time vs index size"),
                write_csv(table, f"{stem}.csv"),
                write_markdown(table, f"{stem}.md", f"## {title} (Pareto points)")):
        print(f"wrote {out}")
    return 0


def cmd_export(a):
    """Write and print the CSV and Markdown tables of a dataset's results."""
    from ..reporting.export import markdown, write_csv, write_markdown

    dataset, table = _table(a)
    stem = Path(a.results_dir) / table_stem(dataset.name, a.count, a.batch)
    _refuse_published(stem, a.force)
    write_csv(table, f"{stem}.csv")
    write_markdown(table, f"{stem}.md", f"## {dataset.name}: recall@{a.count} vs QPS (Pareto points)")
    print(markdown(table))
    print(f"wrote {stem}.csv and {stem}.md")
    return 0


def cmd_datasets(a):
    """List the datasets found locally and those downloadable by name."""
    found = set(available_datasets(a.data_dir))
    for name in sorted(found | set(DATASETS)):
        where = "available" if name in found else "downloadable"
        print(f"{name:36s} {where}")
    return 0


def cmd_download(a):
    """Download a registered dataset (resumable) and print its path."""
    from ..harness.runner import resolve_dataset

    path, *_ = resolve_dataset(a.name, a.data_dir or "data")
    print(path)
    return 0


def cmd_convert(a):
    """Convert texmex or idx files to the HDF5 layout, or write a synthetic dataset."""
    from annann.data import convert, synthetic

    if a.format == "texmex":
        out = convert.convert_texmex(a.inputs[0], a.inputs[1], a.out, a.distance)
    elif a.format == "idx":
        out = convert.convert_idx(a.inputs[0], a.inputs[1], a.out, a.distance)
    else:
        out = synthetic.make_synthetic_dataset(a.out, a.n, a.n_test, a.dim, a.distance,
                                               seed=a.seed, progress=True)
    print(f"wrote {out}")
    return 0


def cmd_stream(a):
    """Run a streaming runbook for each algorithm, then plot and tabulate the results."""
    import dataclasses
    import shlex

    from ..streaming.runbooks import get_runbook
    from ..streaming.report import plot_stream, stream_table
    from ..streaming.runner import (load_stream_results, make_algorithm, run_stream,
                                    save_stream_result)

    dataset = get_dataset(a.dataset, a.data_dir)
    n_test = dataset.test.shape[0]
    if a.queries is not None and a.queries > n_test:
        raise ValueError(f"--queries {a.queries}: {dataset.name} has {n_test} test queries")
    if a.count > min(dataset.train.shape[0], a.train_limit or dataset.train.shape[0]):
        raise ValueError(f"--count {a.count} is larger than the train rows used")
    if a.train_limit and a.train_limit < dataset.train.shape[0]:
        dataset = dataclasses.replace(dataset, name=f"{dataset.name}-n{a.train_limit}",
                                      train=dataset.train[:a.train_limit])
    params = {"n_batches": a.batches} if a.batches and a.runbook in ("uniform", "clustered") else {}
    runbook = get_runbook(a.runbook, dataset.train.shape[0], **params)
    n_clusters = a.n_clusters or max(1, int(round(dataset.train.shape[0] ** 0.5)))
    folder = Path(a.results_dir) / "streaming" / dataset.name / runbook.name
    command = "annann-bench " + " ".join(shlex.quote(x) for x in sys.argv[1:])
    for name in a.algorithm or ["annann-raw", "annann-raw-static", "annann", "hnswlib"]:
        if (folder / f"{name}.json").is_file() and not a.force:
            print(f"{name}: already done ({folder / f'{name}.json'})")
            continue
        algo = make_algorithm(name, dataset, n_clusters, a.C, a.ef, a.seed,
                              {"train": {"train_sample": a.train_sample}},
                              {"router": {"train_sample": a.train_sample}})
        steps, summary = run_stream(dataset, runbook, algo, a.count, a.queries,
                                    Path(a.results_dir) / "streaming" / ".cache")
        out = save_stream_result(a.results_dir, dataset, runbook, name, steps, summary, command)
        print(f"{name}: score {summary['score']:.4f}, mean QPS {summary['mean_qps']:.0f} -> {out}")
    docs = load_stream_results(a.results_dir, dataset.name, runbook.name)
    stem = Path(a.results_dir) / "streaming" / f"{dataset.name}-{runbook.name}"
    plot_stream(docs, f"{stem}.png", f"{dataset.name}, runbook {runbook.name}: recall per search step")
    with atomic_path(f"{stem}.md") as tmp:
        tmp.write_text(f"## {dataset.name}, runbook {runbook.name} "
                       f"(n_clusters={n_clusters}, C={a.C}, hnswlib ef={a.ef})\n\n"
                       + stream_table(docs))
    print(stream_table(docs))
    return 0


def cmd_install_plugin(a):
    """Install (or uninstall) our algorithms into an ann-benchmarks checkout."""
    from ..harness.install import install_plugin, plan, plugin_folders, uninstall_plugin

    root = Path(a.path) / "ann_benchmarks" / "algorithms"
    if a.uninstall:
        for folder in uninstall_plugin(a.path):
            print(f"removed {root / folder}")
        return 0
    definitions = _definitions(a)
    for folder in sorted(set(plugin_folders()) - set(plan(definitions))):
        print(f"skipped {folder}: no entry in {definitions}", file=sys.stderr)
    for folder in install_plugin(a.path, definitions, a.wheel, a.force):
        print(f"wrote {root / folder}")
    print(f"build the images in {a.path} with: python install.py --algorithm <folder>")
    return 0


def cmd_build_images(a):
    """Build the Dockerfile once per set of extras, tagged as the docker_tags it serves."""
    from ..harness.docker_runner import build_images, image_plan

    buildargs = dict(kv.split("=", 1) for kv in a.build_arg or [])
    build_images(image_plan(_definitions(a)), a.base_image,
                 buildargs, a.network)
    return 0


def cmd_reproduce(a):
    """Regenerate the published results (all algorithms and peers, same runner) and plots."""
    from .reproduce import reproduce

    status = reproduce(a.only, a.data_dir, a.results_dir, a.force, progress=not a.quiet,
                       definitions=_definitions(a),
                       parallelism=a.parallelism)
    for name, state in status.items():
        print(f"{name:36s} {state}")
    return 0 if all(s == "ok" for s in status.values()) else 1


def build_parser():
    """The argparse parser of every annann-bench subcommand (each option's help names its
    default; numeric options are range-checked)."""
    parser = argparse.ArgumentParser(prog="annann-bench", description=__doc__,
                                     formatter_class=HelpWithDefaults)
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name, text):
        return sub.add_parser(name, help=text, description=text, formatter_class=HelpWithDefaults)

    p = command("run", "benchmark algorithm definitions on a dataset")
    _common(p)
    p.add_argument("--algorithm", action="append",
                   help="algorithm name (repeatable; default: every enabled one)")
    p.add_argument("--runs", type=positive_int, default=5,
                   help="timed passes over the queries (the best is kept)")
    p.add_argument("--force", action="store_true",
                   help="re-run definitions that have results (and let --plot replace published "
                        "tables); never breaks another run's lock")
    p.add_argument("--definitions", default=None, help="definitions YAML (default ./algos.yaml)")
    p.add_argument("--max-n", type=positive_int, default=None,
                   help="run at most N definitions (default: all)")
    p.add_argument("--timeout", type=positive_float, default=7200,
                   help="seconds per definition before its child is killed")
    p.add_argument("--wait", type=nonnegative_float, default=0,
                   help="seconds to wait for another run holding the same results (dataset and "
                        "k) before giving up; 0 refuses at once")
    p.add_argument("--run-disabled", action="store_true", help="include disabled definitions")
    p.add_argument("--parallelism", type=positive_int, default=1,
                   help="definitions run at a time, each pinned to its own CPU with one build "
                        "thread")
    p.add_argument("--plot", action="store_true", help="plot and export when done")
    p.add_argument("--x-scale", choices=("linear", "logit"), default="linear",
                   help="--plot: scale of the recall axis")
    p.add_argument("--quiet", action="store_true",
                   help="no progress bars and no per-definition lines (failures still print)")
    p.add_argument("--docker", action="store_true",
                   help="run each definition in a fresh container of its docker_tag image")
    p.add_argument("--cpu", default="0", help="docker: CPU set of each container")
    p.add_argument("--memory", default=None,
                   help="docker: memory limit, e.g. 8g (default: the memory available now)")
    p.set_defaults(func=cmd_run)

    p = command("reproduce", "regenerate the published results: every algorithm and peer on "
                             "each dataset, with plots (resumable)")
    p.add_argument("--only", choices=("small", "medium", "large", "all"), default="all",
                   help="small: the 10k sets (minutes); medium: Fashion-MNIST; large: 1M SIFT "
                        "(under an hour)")
    p.add_argument("--data-dir", default="data", help="datasets and derived files")
    p.add_argument("--results-dir", default="results",
                   help="results root (the committed results)")
    p.add_argument("--definitions", default=None, help="definitions YAML (default ./algos.yaml)")
    p.add_argument("--force", action="store_true", help="re-run definitions that have results")
    p.add_argument("--parallelism", type=positive_int, default=None,
                   help="definitions run at a time, each pinned to its own CPU (default: 2 on the "
                        "small sets when 2 CPUs are free, else 1)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_reproduce)

    p = command("install-plugin", "install our algorithms into an ann-benchmarks checkout "
                                  "(module.py, config.yml, Dockerfile)")
    p.add_argument("path", help="root of the ann-benchmarks checkout")
    p.add_argument("--definitions", default=None, help="definitions YAML (default ./algos.yaml)")
    p.add_argument("--wheel", default=None, help="annann wheel to use (default: build one)")
    p.add_argument("--force", action="store_true", help="overwrite folders we did not write")
    p.add_argument("--uninstall", action="store_true", help="remove what install-plugin wrote")
    p.set_defaults(func=cmd_install_plugin)

    p = command("build-images", "build the Dockerfile once per set of extras (TensorFlow only "
                                "for ANNANN), each tagged as the docker_tags it serves")
    p.add_argument("--definitions", default=None, help="definitions YAML (default ./algos.yaml)")
    p.add_argument("--base-image", default="ann-benchmarks",
                   help="base image (the harness's base)")
    p.add_argument("--build-arg", action="append", metavar="KEY=VALUE",
                   help="extra build argument (repeatable), e.g. PIP_FIND_LINKS=... (default: "
                        "none)")
    p.add_argument("--network", default=None,
                   help="network mode of the build, e.g. host (default: Docker's)")
    p.set_defaults(func=cmd_build_images)

    p = command("plot", "recall/QPS and build plots plus tables of a dataset's results")
    _common(p)
    p.add_argument("--x-scale", choices=("linear", "logit"), default="linear",
                   help="scale of the recall axis")
    p.add_argument("--force", action="store_true",
                   help="replace published tables (results with a provenance header)")
    p.set_defaults(func=cmd_plot)

    p = command("export", "CSV and Markdown table of a dataset's results")
    _common(p)
    p.add_argument("--force", action="store_true",
                   help="replace published tables (results with a provenance header)")
    p.set_defaults(func=cmd_export)

    p = command("stream", "streaming benchmark: a runbook of inserts/deletes/searches")
    p.add_argument("--dataset", default=DEFAULT_DATASET, help="dataset name or .hdf5 path")
    p.add_argument("--data-dir", default=None,
                   help="directory searched first for datasets (default: only ./data, "
                        "ANNANN_DATA_PATH and the embedded sets)")
    p.add_argument("--results-dir", default=LOCAL_RESULTS,
                   help="results root; results go to <it>/streaming/ (default: %(default)s, "
                        "ignored by git)")
    p.add_argument("--runbook", default="uniform",
                   help="uniform, clustered, sliding, replace, or a runbook YAML file")
    p.add_argument("--algorithm", action="append",
                   help="annann-raw, annann, annann-nlsh (Neural LSH), hnswlib, each optionally "
                        "with -static (repeatable; "
                        "default: annann-raw, annann-raw-static, annann, hnswlib)")
    p.add_argument("--count", "-k", type=positive_int, default=10, help="number of neighbours")
    p.add_argument("--queries", type=positive_int, default=None,
                   help="use the first N test queries (default: all)")
    p.add_argument("--train-limit", type=positive_int, default=None,
                   help="use the first N train rows (default: all)")
    p.add_argument("--n-clusters", type=positive_int, default=None,
                   help="clusters (parts) of annann-raw/annann/annann-nlsh (default: sqrt(n))")
    p.add_argument("--C", type=positive_int, default=10, help="clusters scanned per query")
    p.add_argument("--ef", type=positive_int, default=100, help="hnswlib ef")
    p.add_argument("--seed", type=nonnegative_int, default=0,
                   help="seed of the algorithms and generated runbooks")
    p.add_argument("--batches", type=positive_int, default=None,
                   help="uniform/clustered: insert batches after the initial 10%% (default 9)")
    p.add_argument("--train-sample", type=positive_int, default=50_000,
                   help="annann / annann-nlsh: at most this many rows train the encoder / "
                        "router")
    p.add_argument("--force", action="store_true",
                   help="re-run algorithms that have a result for this dataset and runbook")
    p.set_defaults(func=cmd_stream)

    p = command("datasets", "list datasets found locally and downloadable by name")
    p.add_argument("--data-dir", default=None,
                   help="directory searched first (default: only ./data, ANNANN_DATA_PATH and "
                        "the embedded sets)")
    p.set_defaults(func=cmd_datasets)

    p = command("download", "download a registered dataset (resumable)")
    p.add_argument("name", choices=sorted(DATASETS), help="registered dataset name")
    p.add_argument("--data-dir", default=None, help="target directory (default ./data)")
    p.set_defaults(func=cmd_download)

    p = command("convert", "convert texmex/idx files, or make a synthetic dataset")
    p.add_argument("format", choices=("texmex", "idx", "synthetic"), help="input format")
    p.add_argument("inputs", nargs="*", help="texmex: BASE QUERY; idx: TRAIN_IMAGES TEST_IMAGES")
    p.add_argument("--out", required=True, help="output .hdf5 path")
    p.add_argument("--distance", default="euclidean", choices=("euclidean", "angular"),
                   help="metric of the output")
    p.add_argument("--n", type=positive_int, default=10_000, help="synthetic: train rows")
    p.add_argument("--n-test", type=positive_int, default=100, help="synthetic: test rows")
    p.add_argument("--dim", type=positive_int, default=32, help="synthetic: dimension")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="synthetic: seed")
    p.set_defaults(func=cmd_convert)

    p = command("build-graph", "K-NN graph of a vector file on a Dask cluster, out of core "
                               "(needs the dist extra)")
    build_graph.add_arguments(p)
    p.set_defaults(func=build_graph.run)

    p = command("website", "static results website: a page per dataset, algorithm and study, "
                           "interactive plotly charts; opens from disk")
    website.add_arguments(p)
    p.set_defaults(func=website.run)
    return parser


def main(argv=None):
    """Entry point: run a subcommand; returns its exit status (2 on a reported error)."""
    parser = build_parser()
    a = parser.parse_args(argv)
    if a.command == "convert" and a.format != "synthetic" and len(a.inputs) != 2:
        parser.error(f"convert {a.format} needs two input files")
    try:
        return a.func(a)
    except ModuleNotFoundError as exc:
        if exc.name not in PLUGIN_MODULES:
            raise
        print(f"annann-bench: error: {exc.name} is missing; the benchmark tools need the plugin "
              f"extra: pip install 'annann[plugin]'", file=sys.stderr)
        return 2
    except (DatasetError, ValueError, OSError, RuntimeError) as exc:  # DefinitionError too
        print(f"annann-bench: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
