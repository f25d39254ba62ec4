"""What the website shows, read from a results directory with the plugin's own readers.

Dataset results come from two places, both in the ann-benchmarks layout:
- result files ``<results>/<dataset>/<k>/<algo>[-batch]/*.hdf5`` (ours or the harness's), turned
  into metrics by ``metrics.collect`` against the dataset's ground truth (found in ``data_dir``);
- the exported tables ``<results>/<stem>.csv`` that ``annann-bench plot/export/reproduce`` write
  (every point, one row each), read by ``export.read_csv``; the committed results are these.
Result files win over a CSV of the same stem when the ground truth is at hand.

Provenance (machine, date) is taken from the Markdown beside the data (the "Produced by" /
"Machine:" lines) or from a JSON's ``info``/``meta`` block.
"""

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..export import COLUMNS, read_csv

# metric key -> (axis label, higher is better, log axis)
METRICS = {
    "k-nn": ("Recall (k-nn, by distance threshold)", True, False),
    "epsilon": ("Epsilon 0.01 recall", True, False),
    "qps": ("Queries per second (1/s, one thread)", True, True),
    "p50": ("p50 latency (ms)", False, True),
    "p95": ("p95 latency (ms)", False, True),
    "p99": ("p99 latency (ms)", False, True),
    "distcomps": ("Distance computations per query", False, True),
    "candidates": ("Candidates per query", False, True),
    "build": ("Build time (s)", False, True),
    "indexsize": ("Index size (kB)", False, True),
}
RECALLS = ("k-nn", "epsilon")
MEASURES = ("qps", "p50", "p95", "p99", "distcomps", "candidates", "build", "indexsize")

DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2})?)?(?: ?UTC|\+00:00|Z)?")
CORES = re.compile(r"(?<![\w-])(\d+)(?:[ -]cores?| CPUs?)\b")
CPU = re.compile(r"(Intel\(R\)(?:[ \w.@-]|\((?:R|TM)\))*|AMD [A-Z][\w-]*(?: [\w-]+)?|Apple M\d\w*)")
PROVENANCE_HINT = re.compile(r"Produced by|[Mm]achine:|compared on|^Run \d|CPUs?\b|cores?\b")


class WebsiteError(ValueError):
    """The results directory cannot be turned into a site (missing, empty, unreadable)."""


@dataclass
class Provenance:
    """Where a set of numbers came from: machine, date and the line that says so."""

    machine: str = None
    date: str = None
    line: str = None
    source: str = None

    def text(self):
        """One line for a page: "machine, date (source)" or a note that none was recorded."""
        parts = [p for p in (self.machine, self.date) if p]
        if not parts:
            return "machine and date not recorded"
        return ", ".join(parts) + (f" (from {self.source})" if self.source else "")


@dataclass
class DatasetResults:
    """Every result row of one dataset / k / mode, with where it came from."""

    stem: str
    rows: list
    source: str
    provenance: Provenance
    summary_md: Path = None
    earlier_runs: list = field(default_factory=list)

    def algorithms(self):
        """Sorted names of the algorithms with rows."""
        return sorted({r["algo"] for r in self.rows})


def normalise_date(text):
    """"2026-11-22T03:53:01+00:00" -> "2026-11-22 03:53 UTC"; dates without a time unchanged."""
    m = re.match(r"(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2})", text)
    return f"{m.group(1)} {m.group(2)} UTC" if m else text[:10]


def machine_from_text(text):
    """"2 cores, Intel(R) Xeon(R) Processor" from any wording of cores and CPU model, or None."""
    cores, cpu = CORES.search(text), CPU.search(text)
    parts = ([f"{cores.group(1)} cores"] if cores else []) + ([cpu.group(1).strip()] if cpu else [])
    return ", ".join(parts) or None


def markdown_provenance(text, source=None):
    """Provenance of a Markdown report: the first line naming the machine or how it was produced,
    its machine and date; the date falls back to the first one anywhere in the text."""
    lines = [ln.strip().lstrip("-* ").strip() for ln in text.splitlines()]
    line = next((ln for ln in lines if PROVENANCE_HINT.search(ln) and (CPU.search(ln) or
                                                                     DATE.search(ln))), None)
    machine = machine_from_text(line) if line else None
    if machine is None:
        machine = next((m for m in map(machine_from_text, lines) if m and CPU.search(m)), None)
    date = DATE.search(line) if line else None
    date = date or DATE.search(text)
    return Provenance(machine, normalise_date(date.group(0)) if date else None, line, source)


def json_provenance(doc, source=None):
    """Provenance from a result JSON's info/meta/machine block (None if it has none)."""
    if not isinstance(doc, dict):
        return None
    blocks = [doc] + [doc[k] for k in ("info", "meta", "machine") if isinstance(doc.get(k), dict)]
    found = {}
    for block in blocks:
        for key in ("cpu", "nproc", "date_utc", "date", "platform"):
            if key in block and key not in found and block[key] not in (None, ""):
                found[key] = block[key]
    date = found.get("date_utc") or found.get("date")
    cpu = found.get("cpu")
    machine = ", ".join(p for p in ((f"{found['nproc']} cores" if "nproc" in found else None),
                                    cpu or found.get("platform")) if p) or None
    if not machine and not date:
        return None
    return Provenance(machine, normalise_date(str(date)) if date else None, None, source)


def file_provenance(path, root=None):
    """Provenance of a Markdown or JSON file (a JSON of the same stem backs up a silent .md)."""
    path = Path(path)
    source = str(path.relative_to(root)) if root else path.name
    if path.suffix == ".json":
        try:
            doc = json.loads(path.read_text())
            return json_provenance(doc, source) or Provenance(source=source)
        except (OSError, ValueError):
            return Provenance(source=source)
    prov = markdown_provenance(path.read_text(errors="replace"), source)
    if prov.machine is None or prov.date is None:
        twin = path.with_suffix(".json")
        if twin.is_file():
            other = file_provenance(twin, root)
            prov = Provenance(prov.machine or other.machine, prov.date or other.date, prov.line,
                              source if prov.machine or prov.date else other.source)
    return prov


def parse_name(name):
    """("algo", {param: value}) of "algo(a=1, b=x)"; (name, None) when it is not of that form."""
    m = re.fullmatch(r"\s*([^()]*?)\s*\((.*)\)\s*", name)
    if not m:
        return name, None
    inner = m.group(2).strip()
    if not inner:
        return m.group(1), {}
    parts = re.split(r",\s*(?=[\w.-]+=)", inner)
    if not all("=" in p for p in parts):
        return m.group(1), None
    return m.group(1), dict(p.split("=", 1) for p in parts)


def frontier(rows, x, y):
    """Rows on the Pareto frontier of (x, y), each better up or down as METRICS says, ordered by x.

    For k-nn recall and QPS this is exactly ``MetricTable.pareto`` (the CSV's pareto column)."""
    sx = 1.0 if METRICS[x][1] else -1.0
    sy = 1.0 if METRICS[y][1] else -1.0
    pts = sorted(rows, key=lambda r: (-sx * r[x], -sy * r[y]))
    front, best = [], -math.inf
    for r in pts:
        if sy * r[y] > best:
            front.append(r)
            best = sy * r[y]
    return sorted(front, key=lambda r: r[x])


def pareto_front(rows, x, y):
    """frontier(rows, x, y), except that for k-nn recall / QPS of rows read from an exported CSV
    the CSV's own pareto column decides: it was computed from the unrounded values (the CSV keeps
    6 digits, which can turn two close recalls into a tie)."""
    if {x, y} == {"k-nn", "qps"} and rows and all("pareto" in r for r in rows):
        sy = 1.0 if METRICS[y][1] else -1.0
        return sorted((r for r in rows if r["pareto"]), key=lambda r: (r[x], -sy * r[y]))
    return frontier(rows, x, y)


def usable(row, key):
    """The row has a real value of metric key (log axes drop 0: "not reported")."""
    v = row.get(key)
    if v is None or not isinstance(v, (int, float)) or not math.isfinite(v):
        return False
    return v > 0 if METRICS[key][2] else True


def parameter_split(rows):
    """(build params, query params) of one algorithm's rows: a parameter that varies within one
    build (same build time and index size) is a query parameter; the rest are build parameters."""
    groups, names = {}, set()
    for r in rows:
        _, params = parse_name(r["name"])
        if params is None:
            continue
        names |= set(params)
        groups.setdefault((r["build"], r["indexsize"]), []).append(params)
    query = {p for g in groups.values() for p in names if len({q.get(p) for q in g}) > 1}
    return sorted(names - query), sorted(query)


def is_result_tree(path):
    """True for a <dataset>/<k>/<algo>/ folder of .hdf5 result files."""
    return path.is_dir() and any(c.is_dir() and c.name.isdigit() and any(c.glob("*/*.hdf5"))
                                 for c in path.iterdir())


def is_export_csv(path):
    """True for a CSV written by export.write_csv (every column, in order)."""
    try:
        with open(path, newline="") as fh:
            header = fh.readline().strip()
    except OSError:
        return False
    return header == ",".join(COLUMNS + ("pareto",))


def _from_result_files(results_dir, data_dir, warnings):
    from annann.data.datasets import DatasetError, get_dataset

    from ...harness.metrics import collect
    from ...harness.results import table_stem

    found = {}
    for tree in sorted(p for p in results_dir.iterdir() if is_result_tree(p)):
        try:
            dataset = get_dataset(tree.name, data_dir, download=False, progress=False)
        except DatasetError as exc:
            warnings.append(f"{tree.name}: result files found but not the dataset's ground truth "
                            f"({exc}); pass --data-dir to score them")
            continue
        for k in sorted(int(c.name) for c in tree.iterdir() if c.name.isdigit()):
            for batch in (False, True):
                try:
                    table = collect(results_dir, dataset, k, batch)
                except DatasetError as exc:
                    warnings.append(f"{tree.name}/{k}: {exc}")
                    continue
                if table.rows:
                    stem = table_stem(tree.name, k, batch)
                    found[stem] = (table.rows, f"result files under {tree.name}/{k}/")
    return found


def load_datasets(results_dir, data_dir=None, warnings=None):
    """{stem: DatasetResults} of every dataset with results (result files first, then CSVs)."""
    results_dir = Path(results_dir)
    warnings = [] if warnings is None else warnings
    found = _from_result_files(results_dir, data_dir, warnings)
    for csv_path in sorted(results_dir.glob("*.csv")):
        if csv_path.stem in found or not is_export_csv(csv_path):
            continue
        rows = read_csv(csv_path)
        if rows:
            found[csv_path.stem] = (rows, csv_path.name)
        else:
            warnings.append(f"{csv_path.name}: no rows")
    datasets = {}
    for stem, (rows, source) in sorted(found.items()):
        md = results_dir / f"{stem}.md"
        prov = file_provenance(md, results_dir) if md.is_file() else Provenance(source=source)
        runs = sorted(results_dir.glob(f"{stem}-run*.md"),
                      key=lambda p: int(re.sub(r"\D", "", p.stem[len(stem):]) or 0))
        datasets[stem] = DatasetResults(stem, rows, source, prov, md if md.is_file() else None,
                                        runs)
    return datasets


def slug(name):
    """A file name for a page: letters, digits, dot, dash and underscore only."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "_"
